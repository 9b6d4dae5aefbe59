// Shared helpers of the pusher-js / pusher SDK end-to-end tests.
//
// The tests reach a running Herald over 127.0.0.1. e2e/js_test.go starts one
// in-process and passes its addresses in HERALD_* variables; without them the
// defaults match `herald` started with no configuration (its dev app), so
//
//	node --test --test-reporter=spec
//
// in this folder also works against a broker started by hand.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import PusherClient from 'pusher-js';
import PusherServer from 'pusher';

const env = process.env;

export const cfg = {
  wsHost: env.HERALD_WS_HOST || '127.0.0.1',
  wsPort: Number(env.HERALD_WS_PORT || 3131),
  apiHost: env.HERALD_API_HOST || env.HERALD_WS_HOST || '127.0.0.1',
  apiPort: Number(env.HERALD_API_PORT || 3232),
  appId: env.HERALD_APP_ID || 'app-id',
  key: env.HERALD_APP_KEY || 'app-key',
  secret: env.HERALD_APP_SECRET || 'app-secret',
  // A second app whose client events are off. Tests that need it are
  // skipped when it is not configured (a hand-started dev broker).
  app2: env.HERALD_APP2_KEY
    ? { appId: env.HERALD_APP2_ID, key: env.HERALD_APP2_KEY, secret: env.HERALD_APP2_SECRET }
    : null,
  // A third app with the opt-in features on: watchlist events and
  // subscription_count. Tests that need it are skipped without it.
  app3: env.HERALD_APP3_KEY
    ? { appId: env.HERALD_APP3_ID, key: env.HERALD_APP3_KEY, secret: env.HERALD_APP3_SECRET }
    : null,
};

/** Default bound of every wait, in milliseconds. */
export const WAIT_MS = 5000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls predicate (sync or async) until it returns a truthy value, and
 * returns that value. Fails after ms with message.
 */
export async function waitFor(predicate, ms = WAIT_MS, message = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await predicate();
    if (v) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${message}`);
    }
    await sleep(10);
  }
}

/**
 * Retries an async block of assertions until it passes, for state the broker
 * reaches asynchronously (channel counts seen through the HTTP API). Fails
 * with the last assertion error after ms.
 */
export async function eventually(fn, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
    await sleep(20);
  }
}

/** Resolves when emitter (a pusher-js channel or connection) emits event. */
export function once(emitter, event, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.unbind(event, handler);
      reject(new Error(`timed out after ${ms} ms waiting for ${event}`));
    }, ms);
    const handler = (data, metadata) => {
      clearTimeout(timer);
      emitter.unbind(event, handler);
      resolve({ data, metadata });
    };
    emitter.bind(event, handler);
  });
}

let seq = 0;
const runID = `${process.pid}-${randomBytes(3).toString('hex')}`;

/** A channel name no other test (or test file) uses. */
export function uniq(prefix) {
  seq += 1;
  return `${prefix}${prefix.endsWith('-') ? '' : '-'}${runID}-${seq}`;
}

/** The official Node server SDK, pointed at Herald's API listener. */
export function serverSdk(overrides = {}) {
  return new PusherServer({
    appId: cfg.appId,
    key: cfg.key,
    secret: cfg.secret,
    host: cfg.apiHost,
    port: String(cfg.apiPort),
    useTLS: false,
    ...overrides,
  });
}

export const sdk = serverSdk();

/**
 * Tracks the clients a test opens so that closeAll can disconnect them, which
 * lets the test process exit.
 */
export class Clients {
  constructor() {
    this.list = [];
  }

  /**
   * Opens a pusher-js client. Channel authorization is done in-process by
   * the server SDK: opts.presence ({user_id, user_info}) is the presence data
   * it signs, opts.authorize(socketId, channelName) replaces the signer
   * (to send a bad signature). User authentication (pusher.signin()) is
   * signed the same way: opts.user ({id, user_info, watchlist}) is the user
   * data the SDK's authenticateUser signs, opts.authenticate(socketId)
   * replaces the signer.
   */
  open(opts = {}) {
    const server = opts.sdk || sdk;
    const client = new PusherClient(opts.key || cfg.key, {
      wsHost: cfg.wsHost,
      wsPort: cfg.wsPort,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      cluster: 'mt1',
      channelAuthorization: {
        customHandler: (params, callback) => {
          try {
            const auth = opts.authorize
              ? opts.authorize(params.socketId, params.channelName)
              : server.authorizeChannel(
                  params.socketId,
                  params.channelName,
                  params.channelName.startsWith('presence-') ? opts.presence : undefined,
                );
            callback(null, auth);
          } catch (err) {
            callback(err, null);
          }
        },
      },
      userAuthentication: {
        customHandler: (params, callback) => {
          try {
            const auth = opts.authenticate
              ? opts.authenticate(params.socketId)
              : server.authenticateUser(params.socketId, opts.user);
            callback(null, auth);
          } catch (err) {
            callback(err, null);
          }
        },
      },
      ...(opts.client || {}),
    });
    // Everything the connection reports, for assertions: its errors, its
    // states and every frame it decoded ({event, channel, data}).
    client.errors = [];
    client.states = [client.connection.state];
    client.messages = [];
    client.sockets = [];
    client.connection.bind('error', (err) => client.errors.push(err));
    client.connection.bind('state_change', (s) => {
      client.states.push(s.current);
      const socket = client.connection.connection?.transport?.socket;
      if (s.current === 'connected' && socket) client.sockets.push(socket);
    });
    client.connection.bind('message', (m) => client.messages.push({ event: m.event, channel: m.channel, data: m.data }));
    this.list.push(client);
    return client;
  }

  /** Opens a client and waits until it is connected. */
  async connect(opts = {}) {
    const client = this.open(opts);
    await connected(client);
    return client;
  }

  closeAll() {
    for (const c of this.list) {
      try {
        c.disconnect();
      } catch {
        // already closed
      }
      releaseClosedSockets(c);
    }
    this.list = [];
  }
}

/**
 * Works around a timer leak of the faye-websocket client bundled in
 * pusher-js's Node build. When the server closes a connected socket with a
 * code that pusher-js treats as "refused" (4001-4099, e.g. 4009), pusher-js
 * calls close() on the socket from inside its close event, when it is
 * already CLOSED; faye's close() then arms a 30 s CLOSE_TIMEOUT timer that
 * nothing clears, which keeps the Node process alive for 30 s after the
 * tests. The timer would do nothing (the socket is closed), so clearing it
 * changes no behaviour under test.
 */
function releaseClosedSockets(client) {
  for (const socket of client.sockets) {
    if (socket.readyState === 3 /* CLOSED */ && socket._closeTimer) {
      clearTimeout(socket._closeTimer);
    }
  }
}

/** Per-test client tracking: closes every client when the test ends. */
export function clientsFor(t) {
  const clients = new Clients();
  t.after(() => clients.closeAll());
  return clients;
}

/**
 * Calls pusher.signin() on a connected client and waits until pusher-js
 * holds the user (user.user_data, set by pusher:signin_success) and its
 * #server-to-user-<id> channel is subscribed. Returns the signin_success
 * frame's data.
 */
export async function signin(client, ms = WAIT_MS) {
  client.signin();
  const ok = await waitFor(
    () => client.messages.find((m) => m.event === 'pusher:signin_success'),
    ms,
    'pusher:signin_success',
  );
  const id = client.user.user_data?.id;
  assert.ok(typeof id === 'string' && id !== '', `pusher-js accepted the user: ${JSON.stringify(client.user.user_data)}`);
  await waitFor(
    () => client.user.serverToUserChannel?.subscribed,
    ms,
    `pusher-js's subscription to #server-to-user-${id}`,
  );
  return ok.data;
}

export async function connected(client, ms = WAIT_MS) {
  await waitFor(() => client.connection.state === 'connected', ms, 'the connection to reach state connected');
  assert.match(client.connection.socket_id, /^\d+\.\d+$/, 'socket_id has Pusher\'s form');
}

/**
 * Subscribes client to name and waits for pusher:subscription_succeeded;
 * a pusher:subscription_error fails with its data.
 */
export function subscribe(client, name, ms = WAIT_MS) {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms subscribing to ${name}`));
    }, ms);
    const ok = (data) => {
      cleanup();
      resolve({ channel, data });
    };
    const bad = (data) => {
      cleanup();
      reject(new Error(`subscription to ${name} failed: ${JSON.stringify(data)}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      channel.unbind('pusher:subscription_succeeded', ok);
      channel.unbind('pusher:subscription_error', bad);
    };
    channel.bind('pusher:subscription_succeeded', ok);
    channel.bind('pusher:subscription_error', bad);
  });
}

/**
 * Subscribes and expects pusher:subscription_error; resolves with its data.
 */
export function subscribeRefused(client, name, ms = WAIT_MS) {
  const channel = client.subscribe(name);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${ms} ms waiting for pusher:subscription_error on ${name}`));
    }, ms);
    const ok = () => {
      cleanup();
      reject(new Error(`subscription to ${name} succeeded, want pusher:subscription_error`));
    };
    const bad = (data) => {
      cleanup();
      resolve({ channel, data });
    };
    const cleanup = () => {
      clearTimeout(timer);
      channel.unbind('pusher:subscription_succeeded', ok);
      channel.unbind('pusher:subscription_error', bad);
    };
    channel.bind('pusher:subscription_succeeded', ok);
    channel.bind('pusher:subscription_error', bad);
  });
}

/**
 * Records every event a channel emits (bind_global, which pusher-js calls
 * without the metadata), so tests can count deliveries and assert that
 * something did not arrive.
 */
export function record(channel) {
  const events = [];
  channel.bind_global((event, data) => events.push({ event, data }));
  return {
    events,
    named: (name) => events.filter((e) => e.event === name),
    waitFor: (name, ms = WAIT_MS) =>
      waitFor(() => events.find((e) => e.event === name), ms, `event ${name} on ${channel.name}`),
  };
}

/**
 * The close / error code in an error a pusher-js connection emitted. The
 * code sits in data.code for a pusher:error frame, and in error.data.code
 * when the connection was refused (the handshake's pusher:error or the
 * socket's close code).
 */
export function errorCode(err) {
  return err?.data?.code ?? err?.error?.data?.code ?? err?.error?.code ?? null;
}

/**
 * A request signed like the SDK signs it, for what the SDK refuses to send
 * (more than 100 channels, a body that is not JSON). Returns {status, body,
 * json, contentType}.
 */
export async function signedFetch(method, resource, { params, body, appId = cfg.appId, server = sdk } = {}) {
  const path = `/apps/${appId}${resource}`;
  const query = server.createSignedQueryString({ method, path, params, body });
  const res = await fetch(`http://${cfg.apiHost}:${cfg.apiPort}${path}?${query}`, {
    method,
    body,
    headers: body ? { 'content-type': 'application/json' } : {},
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, body: text, json, contentType: res.headers.get('content-type') };
}

/**
 * Runs an SDK call that must fail with an HTTP status; returns the
 * RequestError after checking the status and that the body is JSON with a
 * non-empty "error" string.
 */
export async function expectStatus(promise, status) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `the request succeeded, want HTTP ${status}`);
  assert.equal(err.status, status, `HTTP status (body ${err.body}, error ${err.error})`);
  assertErrorBody(err.body, status);
  return err;
}

/** Checks an error body: JSON with a non-empty "error" string. */
export function assertErrorBody(body, status) {
  let parsed;
  assert.doesNotThrow(() => {
    parsed = JSON.parse(body);
  }, `error body is JSON: ${body}`);
  assert.equal(typeof parsed.error, 'string', `error body has an "error" string: ${body}`);
  assert.ok(parsed.error.length > 0, 'the error message is not empty');
  if (parsed.code !== undefined) {
    assert.equal(parsed.code, status, `"code" in the error body matches the status: ${body}`);
  }
  return parsed;
}
