// User features: signin (user authentication), server-to-user events,
// terminate_connections, watchlist events, cache channels and
// subscription_count, through pusher-js's user facade and the SDK's
// authenticateUser / sendToUser / terminateUserConnections.
//
// Watchlist events and subscription_count are opt-in app settings: those
// tests use the third app (HERALD_APP3_*), which turns them on. Negative
// checks ("X did not arrive") end with a barrier: an event sent after X
// would have been, on the same socket and through the same broker actor,
// so its arrival proves X was not sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cfg, clientsFor, sdk, serverSdk, signin, subscribe, record, uniq, waitFor, eventually, once, WAIT_MS,
} from './helpers.mjs';

const skip3 = !cfg.app3 && 'HERALD_APP3_* not set';
const sdk3 = cfg.app3 ? serverSdk(cfg.app3) : null;

/** Opens a client of app3 (the app with watchlist and subscription_count). */
function connect3(clients, opts = {}) {
  return clients.connect({ key: cfg.app3.key, sdk: sdk3, ...opts });
}

/** Records the events a signed-in client gets on pusher.user under name. */
function userEvents(client, name) {
  const list = [];
  client.user.bind(name, (data) => list.push(data));
  return list;
}

/**
 * Sends a server-to-user barrier event to user id through server and waits
 * until client (signed in as id) has it. Everything the broker wrote to that
 * client before handling the request arrived first.
 */
async function userBarrier(client, id, server = sdk) {
  const tag = uniq('barrier');
  const got = once(client.user, tag);
  await server.sendToUser(id, tag, { tag });
  const { data } = await got;
  assert.deepEqual(data, { tag });
}

/** Records the watchlist events pusher-js re-emits on pusher.user.watchlist. */
function watchlistEvents(client) {
  const list = [];
  for (const name of ['online', 'offline']) {
    client.user.watchlist.bind(name, (e) => list.push(e));
  }
  return list;
}

/** The pusher:error frames a client received. */
const errorFrames = (client) => client.messages.filter((m) => m.event === 'pusher:error');

/**
 * Waits until pusher-js has given up on a connection the broker closed with
 * code: it reports the close as a WebSocketError carrying the socket's close
 * code (ConnectionManager's "refused" action, taken for 4001-4099), then
 * disconnects. Also checks the pusher:error frame sent before the close.
 */
async function closedWith(client, code) {
  await waitFor(
    () => client.errors.some((e) => e.type === 'WebSocketError' && e.error?.data?.code === code),
    WAIT_MS,
    `the socket to close with ${code} (errors: ${JSON.stringify(client.errors)})`,
  );
  await waitFor(() => client.connection.state === 'disconnected', WAIT_MS,
    `state disconnected (now ${client.connection.state})`);
  const frames = errorFrames(client);
  assert.equal(frames.length, 1, `pusher:error frames: ${JSON.stringify(frames)}`);
  assert.equal(frames[0].data.code, code, `pusher:error: ${JSON.stringify(frames[0])}`);
  assert.equal(typeof frames[0].data.message, 'string');
}

// 1. Signin.

test('signin: pusher:signin_success carries the signed user_data and pusher-js holds the user', async (t) => {
  const clients = clientsFor(t);
  const user = { id: uniq('u1'), user_info: { name: 'Ann', n: 1 } };
  const client = await clients.connect({ user });
  const data = await signin(client);
  // The same string the SDK signed, byte for byte.
  assert.equal(data.user_data, sdk.authenticateUser(client.connection.socket_id, user).user_data);
  assert.deepEqual(client.user.user_data, user);
  // pusher-js subscribed to its #server-to-user- channel and Herald accepted it.
  assert.equal(client.user.serverToUserChannel.name, `#server-to-user-${user.id}`);
  assert.equal(client.user.serverToUserChannel.subscribed, true);
  assert.equal(client.messages.filter((m) => m.event === 'pusher:subscription_error').length, 0);
  await client.user.signinDonePromise; // resolved on success
  assert.equal(client.connection.state, 'connected');
  assert.deepEqual(client.errors, []);
  assert.deepEqual(errorFrames(client), []);
});

test('signin with a wrongly signed auth: pusher:error 4009, closed with 4009, no reconnection', async (t) => {
  const clients = clientsFor(t);
  const wrong = serverSdk({ secret: 'not-the-app-secret' });
  const user = { id: uniq('mallory') };
  const client = await clients.connect({ authenticate: (socketId) => wrong.authenticateUser(socketId, user) });
  const socketId = client.connection.socket_id;
  client.signin();
  await closedWith(client, 4009);
  assert.equal(client.messages.filter((m) => m.event === 'pusher:signin_success').length, 0);
  assert.equal(client.user.user_data, null);
  assert.deepEqual(client.states, ['connecting', 'connected', 'disconnected']);

  // No reconnection: a good client signs in and gets an event meanwhile,
  // and the refused one stays disconnected on its old socket id.
  const ok = await clients.connect({ user: { id: uniq('honest') } });
  await signin(ok);
  await userBarrier(ok, ok.user.user_data.id);
  assert.equal(client.connection.state, 'disconnected');
  assert.deepEqual(client.states, ['connecting', 'connected', 'disconnected']);
  assert.notEqual(ok.connection.socket_id, socketId);
});

// 2. Server-to-user events.

test('sendToUser reaches every connection signed in as the user, and no other', async (t) => {
  const clients = clientsFor(t);
  const u1 = uniq('u1');
  const u2 = uniq('u2');
  const [a, b, c] = await Promise.all([
    clients.connect({ user: { id: u1 } }),
    clients.connect({ user: { id: u1 } }),
    clients.connect({ user: { id: u2 } }),
  ]);
  await Promise.all([signin(a), signin(b), signin(c)]);
  const got = new Map([a, b, c].map((x) => [x, userEvents(x, 'notice')]));

  await sdk.sendToUser(u1, 'notice', { text: 'hello', n: 1 });
  for (const x of [a, b]) {
    await waitFor(() => got.get(x).length === 1, WAIT_MS, 'notice on a u1 client');
    assert.deepEqual(got.get(x)[0], { text: 'hello', n: 1 });
    const frame = x.messages.find((m) => m.event === 'notice');
    assert.equal(frame.channel, `#server-to-user-${u1}`);
  }
  // Barriers: each client has everything sent before them.
  await userBarrier(a, u1);
  await userBarrier(c, u2);
  assert.equal(got.get(a).length, 1, 'u1 got the notice twice');
  assert.equal(got.get(b).length, 1, 'u1 got the notice twice');
  assert.equal(got.get(c).length, 0, 'u2 got a notice sent to u1');
  assert.equal(c.messages.filter((m) => m.event === 'notice').length, 0);
});

// 3. terminate_connections.

test('terminateUserConnections closes every connection of the user with 4009, and only those', async (t) => {
  const clients = clientsFor(t);
  const u1 = uniq('u1');
  const u2 = uniq('u2');
  const [a, b, c] = await Promise.all([
    clients.connect({ user: { id: u1 } }),
    clients.connect({ user: { id: u1 } }),
    clients.connect({ user: { id: u2 } }),
  ]);
  await Promise.all([signin(a), signin(b), signin(c)]);

  const res = await sdk.terminateUserConnections(u1);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});
  for (const x of [a, b]) {
    await closedWith(x, 4009);
    assert.deepEqual(x.states, ['connecting', 'connected', 'disconnected']);
    assert.equal(x.user.user_data, null);
  }

  // u2 stays connected and signed in, and the u1 clients do not come back.
  await userBarrier(c, u2);
  assert.equal(c.connection.state, 'connected');
  assert.deepEqual(c.errors, []);
  assert.deepEqual(c.states, ['connecting', 'connected']);
  for (const x of [a, b]) {
    assert.deepEqual(x.states, ['connecting', 'connected', 'disconnected']);
  }
});

// 4. Watchlist events.

test('watchlist: online on a watched user\'s first signin, offline on its last disconnect, a snapshot for late watchers', { skip: skip3 }, async (t) => {
  const clients = clientsFor(t);
  const ann = uniq('ann');
  const bob = uniq('bob');
  const cy = uniq('cy'); // watched, never online
  const dee = uniq('dee');

  const annC = await connect3(clients, { user: { id: ann, watchlist: [bob, cy] } });
  const annEv = watchlistEvents(annC);
  await signin(annC);
  await userBarrier(annC, ann, sdk3);
  assert.deepEqual(annEv, [], 'nobody ann watches is online yet');

  // bob's first connection: online.
  const room = uniq('bob-room');
  const bob1 = await connect3(clients, { user: { id: bob } });
  await signin(bob1);
  await subscribe(bob1, room);
  await waitFor(() => annEv.length >= 1, WAIT_MS, 'the online event of bob');
  assert.deepEqual(annEv, [{ name: 'online', user_ids: [bob] }]);

  // bob's second connection is not a transition.
  const bob2 = await connect3(clients, { user: { id: bob } });
  await signin(bob2);
  await subscribe(bob2, room);
  await userBarrier(annC, ann, sdk3);
  assert.equal(annEv.length, 1, `events: ${JSON.stringify(annEv)}`);

  // A watcher signing in while bob is online gets the snapshot.
  const deeC = await connect3(clients, { user: { id: dee, watchlist: [bob, cy] } });
  const deeEv = watchlistEvents(deeC);
  await signin(deeC);
  await waitFor(() => deeEv.length >= 1, WAIT_MS, 'the initial online event');
  assert.deepEqual(deeEv, [{ name: 'online', user_ids: [bob] }]);

  // bob's first connection goes: bob is still online. Once the broker has
  // seen it leave (room has one subscriber), a barrier to each watcher.
  bob1.disconnect();
  await eventually(async () => {
    const r = await sdk3.get({ path: `/channels/${room}`, params: { info: 'subscription_count' } });
    assert.deepEqual(await r.json(), { occupied: true, subscription_count: 1 });
  });
  await userBarrier(annC, ann, sdk3);
  await userBarrier(deeC, dee, sdk3);
  assert.equal(annEv.length, 1, `events: ${JSON.stringify(annEv)}`);
  assert.equal(deeEv.length, 1, `events: ${JSON.stringify(deeEv)}`);

  // bob's last connection goes: offline, to every watcher.
  bob2.disconnect();
  await waitFor(() => annEv.length >= 2 && deeEv.length >= 2, WAIT_MS, 'the offline event of bob');
  assert.deepEqual(annEv[1], { name: 'offline', user_ids: [bob] });
  assert.deepEqual(deeEv[1], { name: 'offline', user_ids: [bob] });
  await userBarrier(annC, ann, sdk3);
  assert.equal(annEv.length, 2, `events: ${JSON.stringify(annEv)}`);

  // bob again: online again.
  const bob3 = await connect3(clients, { user: { id: bob } });
  await signin(bob3);
  await waitFor(() => annEv.length >= 3 && deeEv.length >= 3, WAIT_MS, 'the second online event of bob');
  assert.deepEqual(annEv[2], { name: 'online', user_ids: [bob] });
  assert.deepEqual(deeEv[2], { name: 'online', user_ids: [bob] });
  assert.deepEqual(errorFrames(annC), []);
});

test('watchlist events are off unless the app turns them on', async (t) => {
  const clients = clientsFor(t);
  const ann = uniq('ann');
  const bob = uniq('bob');
  const cy = uniq('cy');
  const room = uniq('bob-room');
  // bob is online before ann signs in (no snapshot), cy comes online after
  // (no online), bob leaves (no offline).
  const bobC = await clients.connect({ user: { id: bob } });
  await signin(bobC);
  await subscribe(bobC, room);
  const annC = await clients.connect({ user: { id: ann, watchlist: [bob, cy] } });
  const annEv = watchlistEvents(annC);
  await signin(annC);
  const cyC = await clients.connect({ user: { id: cy } });
  await signin(cyC);
  bobC.disconnect();
  await eventually(async () => {
    const r = await sdk.get({ path: `/channels/${room}` });
    assert.deepEqual(await r.json(), { occupied: false });
  });
  await userBarrier(annC, ann);
  assert.deepEqual(annEv, []);
  assert.equal(annC.messages.filter((m) => m.event === 'pusher_internal:watchlist_events').length, 0);
});

// 5. Cache channels.

test('cache channel: a late subscriber gets the last event right after subscription_succeeded', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('cache-prices');
  // Nobody is subscribed: the broker keeps the last one.
  await sdk.trigger(name, 'price', { eur: 1 });
  await sdk.trigger(name, 'price', { eur: 2 });

  const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'cache' } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.occupied, false);
  assert.equal(body.cache?.event, 'price', JSON.stringify(body));
  assert.equal(body.cache.data, JSON.stringify({ eur: 2 }));
  assert.ok(body.cache.ttl > 0, `ttl ${body.cache.ttl}`);

  const client = await clients.connect();
  const channel = client.subscribe(name);
  const rec = record(channel); // before any frame of the channel can arrive
  await rec.waitFor('price');
  assert.deepEqual(rec.events.map((e) => e.event), ['pusher:subscription_succeeded', 'price']);
  assert.deepEqual(rec.named('price')[0].data, { eur: 2 });
  const frame = client.messages.find((m) => m.event === 'price');
  assert.equal(frame.channel, name);
  assert.equal(rec.named('pusher:cache_miss').length, 0);

  // A live event updates the cache: the next subscriber gets that one.
  await sdk.trigger(name, 'rate', { eur: 3 });
  await waitFor(() => rec.named('rate').length === 1, WAIT_MS, 'the live event');
  const late = await clients.connect();
  const lateCh = late.subscribe(name);
  const lateRec = record(lateCh);
  await lateRec.waitFor('rate');
  assert.deepEqual(lateRec.events.map((e) => e.event), ['pusher:subscription_succeeded', 'rate']);
  assert.deepEqual(lateRec.named('rate')[0].data, { eur: 3 });
});

test('cache channel with nothing cached: pusher:cache_miss on the channel', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('cache-empty');
  const client = await clients.connect();
  const channel = client.subscribe(name);
  const rec = record(channel);
  const miss = once(channel, 'pusher:cache_miss');
  await miss;
  assert.deepEqual(rec.events.map((e) => e.event), ['pusher:subscription_succeeded', 'pusher:cache_miss']);
  assert.equal(client.messages.find((m) => m.event === 'pusher:cache_miss').channel, name);

  // Then ordinary events flow (and are cached).
  await sdk.trigger(name, 'first', { n: 1 });
  await rec.waitFor('first');
  const other = await clients.connect();
  const otherRec = record(other.subscribe(name));
  await otherRec.waitFor('first');
  assert.equal(otherRec.named('pusher:cache_miss').length, 0);
});

// 6. subscription_count.

test('subscription_count: pusher-js sees the count reach the number of subscribers, coalesced', { skip: skip3 }, async (t) => {
  const clients = clientsFor(t);
  const name = uniq('live');
  const n = 4;
  const subs = [];
  for (let i = 0; i < n; i++) {
    const client = await connect3(clients);
    const channel = client.subscribe(name);
    const counts = [];
    channel.bind('pusher:subscription_count', (d) => counts.push({ n: d.subscription_count, at: Date.now() }));
    subs.push({ client, channel, counts });
    await once(channel, 'pusher:subscription_succeeded');
  }
  // Coalesced at most once a second: allow about three.
  for (const [i, s] of subs.entries()) {
    await waitFor(() => s.counts.at(-1)?.n === n, 3500, `client ${i} to see subscription_count ${n} (saw ${JSON.stringify(s.counts.map((c) => c.n))})`);
    assert.equal(s.channel.subscriptionCount, n, 'channel.subscriptionCount');
  }
  // The first subscriber saw a non-decreasing sequence of counts, at most
  // one a second (with slack for delivery jitter).
  const first = subs[0].counts;
  assert.ok(first.length >= 1 && first.length <= n, `counts ${JSON.stringify(first.map((c) => c.n))}`);
  for (let i = 1; i < first.length; i++) {
    assert.ok(first[i].n >= first[i - 1].n, `counts ${JSON.stringify(first.map((c) => c.n))}`);
    assert.ok(first[i].at - first[i - 1].at >= 500,
      `two subscription_count ${first[i].at - first[i - 1].at} ms apart: not coalesced`);
  }
  const res = await sdk3.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
  assert.deepEqual(await res.json(), { occupied: true, subscription_count: n });

  // One leaves: the others see n-1.
  subs[n - 1].client.disconnect();
  for (const s of subs.slice(0, n - 1)) {
    await waitFor(() => s.counts.at(-1)?.n === n - 1, 3500, `subscription_count ${n - 1}`);
    assert.equal(s.channel.subscriptionCount, n - 1);
  }
});

test('subscription_count is not sent on presence channels, nor by an app that has not turned it on', { skip: skip3 }, async (t) => {
  const clients = clientsFor(t);
  // Presence (app3): user_count replaces it. The first subscriber would get
  // a count at once; member_added from the second one is the barrier.
  const pres = uniq('presence-live');
  const a = await connect3(clients, { presence: { user_id: 'a' } });
  const chA = (await subscribe(a, pres)).channel;
  const counted = [];
  chA.bind('pusher:subscription_count', (d) => counted.push(d));
  const added = once(chA, 'pusher:member_added');
  const b = await connect3(clients, { presence: { user_id: 'b' } });
  await subscribe(b, pres);
  await added;
  assert.deepEqual(counted, []);
  assert.equal(a.messages.filter((m) => m.event === 'pusher_internal:subscription_count').length, 0);

  // app1 has it off: after a subscription, an event triggered later is the
  // barrier.
  const pub = uniq('uncounted');
  const c = await clients.connect();
  const rec = record((await subscribe(c, pub)).channel);
  await sdk.trigger(pub, 'barrier', {});
  await rec.waitFor('barrier');
  assert.equal(rec.named('pusher:subscription_count').length, 0);
  assert.equal(c.messages.filter((m) => m.event === 'pusher_internal:subscription_count').length, 0);
});
