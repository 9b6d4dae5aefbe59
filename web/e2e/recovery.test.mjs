// Recovery (docs/recovery.md) in real headless Chromium: Herald's client
// loses its socket to a TCP proxy that cuts it and refuses connections for
// 2 s while events are published, and gets back exactly what it missed;
// pusher-js on the same channel, connected directly, sees the live events
// as usual.
//
//   cd web/e2e && npm ci && node --test recovery.test.mjs
//
// The broker is built from ./cmd/herald (or E2E_BROKER_BIN) and started
// with a config file of two apps with history (100 and 10 events per
// channel) on free loopback ports. The proxy is a node:net server on
// loopback, started and stopped by this file. Waits are on the page's
// state, each bounded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHTTPServer } from 'node:http';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const WAIT = 30000;

const apps = {
  big: { id: 'hist', key: 'hist-key', secret: 'hist-secret' },
  small: { id: 'small', key: 'small-key', secret: 'small-secret' },
};
const configYAML = `apps:
  - id: ${apps.big.id}
    key: ${apps.big.key}
    secret: ${apps.big.secret}
    history:
      size: 100
      ttl: 5m
  - id: ${apps.small.id}
    key: ${apps.small.key}
    secret: ${apps.small.secret}
    history:
      size: 10
`;

let tmp;
let bin;
let configPath;
let wsPort;
let apiPort;
let broker;
let brokerLog = '';
let browser;
let proxy;
let pages;
const pageErrors = [];

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));
const api = () => `http://127.0.0.1:${apiPort}`;

async function startBroker() {
  brokerLog += `--- start ${new Date().toISOString()}\n`;
  // Herald refuses HERALD_ variables it does not know: pass only ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  Object.assign(env, { HERALD_WEBSOCKET_LISTEN: `127.0.0.1:${wsPort}`, HERALD_API_LISTEN: `127.0.0.1:${apiPort}` });
  broker = spawn(bin, ['--config', configPath], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((ok) => broker.once('exit', (code, sig) => ok(`exited ${code ?? sig}`)));
  broker.stdout.on('data', (b) => { brokerLog += b; });
  broker.stderr.on('data', (b) => { brokerLog += b; });
  for (let i = 0; i < 150; i++) {
    const r = await Promise.race([fetch(`${api()}/readyz`).then((res) => res.status, () => 0), exited]);
    if (typeof r === 'string') throw new Error(`broker ${r} before it was ready:\n${brokerLog}`);
    if (r === 200) return;
    await sleep(100);
  }
  throw new Error(`broker not ready:\n${brokerLog}`);
}

// stopBroker ends the broker with signal and waits for it to exit.
async function stopBroker(signal) {
  if (!broker || broker.exitCode !== null || broker.signalCode !== null) return null;
  const gone = new Promise((ok) => broker.once('exit', (code, sig) => ok(code ?? sig)));
  broker.kill(signal);
  return gone;
}

// Proxy forwards loopback TCP connections to the broker's WebSocket port.
// cut(ms) closes every connection it carries and refuses new ones for ms.
class Proxy {
  constructor(target) {
    this.target = target;
    this.conns = new Set();
    this.server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      const pair = [client, upstream];
      this.conns.add(pair);
      const drop = () => {
        this.conns.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  listen(port = 0) {
    return new Promise((ok, fail) => {
      this.server.once('error', fail);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', fail);
        this.port = this.server.address().port;
        ok();
      });
    });
  }

  // cut closes the carried connections and stops listening (connections
  // are refused); the returned promise resolves once it listens again.
  async cut(ms) {
    const closed = new Promise((ok) => this.server.close(ok));
    for (const [client, upstream] of this.conns) {
      client.destroy();
      upstream.destroy();
    }
    this.conns.clear();
    await closed;
    await sleep(ms);
    await this.listen(this.port);
  }

  close() {
    for (const [client, upstream] of this.conns) {
      client.destroy();
      upstream.destroy();
    }
    return new Promise((ok) => this.server.close(() => ok()));
  }
}

// pageServer serves the test page, an empty page on loopback (the
// broker's own pages forbid scripts), and the client builds as the broker
// serves them, from the same origin.
function pageServer() {
  const srv = createHTTPServer(async (req, res) => {
    if (req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><title>recovery</title>');
      return;
    }
    if (req.url === '/push.js' || req.url === '/push-vue.js') {
      const up = await fetch(`${api()}${req.url}`);
      res.writeHead(up.status, { 'Content-Type': up.headers.get('content-type') }).end(await up.text());
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((ok) => srv.listen(0, '127.0.0.1', () => ok(srv)));
}

// trigger publishes one event through the HTTP API, signed as Pusher's
// SDKs sign.
async function trigger(app, channel, event, data) {
  const body = JSON.stringify({ name: event, channels: [channel], data: JSON.stringify(data) });
  const path = `/apps/${app.id}/events`;
  const params = {
    auth_key: app.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: createHash('md5').update(body).digest('hex'),
  };
  const query = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&');
  const signature = createHmac('sha256', app.secret).update(`POST\n${path}\n${query}`).digest('hex');
  const res = await fetch(`${api()}${path}?${query}&auth_signature=${signature}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body,
  });
  assert.equal(res.status, 200, await res.text());
}

// openClient opens a page running Herald's client (build: 'push.js', the
// global, or 'push-vue.js', the ES module) for app, through the proxy,
// subscribed to channel. The page records, in window.log: every event
// ("n" data, in arrival order) and each recovery outcome.
async function openClient(app, channel, build = 'push.js') {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${pages.address().port}/`);
  if (build === 'push.js') {
    await page.addScriptTag({ url: '/push.js' });
  }
  await page.evaluate(async ({ url, key, channel, build }) => {
    const Push = build === 'push.js' ? window.Push : (await import(`/${build}`)).Push;
    window.log = { events: [], outcomes: [], subscribed: 0, states: [] };
    window.push = new Push({ url, app_key: key });
    window.push.connection.on('state_change', (s) => window.log.states.push(s.current));
    const ch = window.push.subscribe(channel);
    ch.on('pusher:subscription_succeeded', () => { window.log.subscribed++; });
    ch.on('n', (d, meta) => window.log.events.push({ n: d.n, offset: meta.offset }));
    ch.on('recovered', (d) => window.log.outcomes.push({ event: 'recovered', ...d }));
    ch.on('recovery_failed', (d) => window.log.outcomes.push({ event: 'recovery_failed', ...d }));
  }, { url: `ws://127.0.0.1:${proxy.port}`, key: app.key, channel, build });
  await page.waitForFunction(() => window.log.subscribed === 1);
  return page;
}

const pageLog = (page) => page.evaluate(() => window.log);
const waitLog = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: WAIT });
const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'herald-recovery-'));
  configPath = join(tmp, 'herald.yaml');
  writeFileSync(configPath, configYAML);
  bin = process.env.E2E_BROKER_BIN;
  if (!bin) {
    bin = join(tmp, 'herald');
    execFileSync('go', ['build', '-o', bin, './cmd/herald'], { cwd: repo, stdio: 'inherit' });
  }
  wsPort = await freePort();
  apiPort = await freePort();
  await startBroker();
  proxy = new Proxy(wsPort);
  await proxy.listen();
  pages = await pageServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (proxy) await proxy.close();
  if (pages) await new Promise((ok) => pages.close(ok));
  await stopBroker('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// cutAndPublish cuts the page's socket for 2 s and publishes events
// from..to meanwhile, checking they were all published while the page
// was not connected.
async function cutAndPublish(page, app, channel, from, to) {
  await waitLog(page, () => window.push.connection.state === 'connected');
  const back = proxy.cut(2000);
  await waitLog(page, () => window.push.connection.state !== 'connected');
  for (const n of range(from, to)) {
    await trigger(app, channel, 'n', { n });
  }
  assert.notEqual(await page.evaluate(() => window.push.connection.state), 'connected',
    'the 2 s cut ended before the events were published');
  await back;
}

test('after a 2 s cut the client gets the 50 missed events exactly once, in order, and recovered; pusher-js sees them live', async () => {
  const page = await openClient(apps.big, 'room');
  // pusher-js in the same page, on the same channel, straight to the broker.
  await page.addScriptTag({ path: join(here, 'node_modules', 'pusher-js', 'dist', 'web', 'pusher.min.js') });
  await page.evaluate(({ key, port }) => {
    window.pjs = { events: [], all: [], subscribed: false, errors: [] };
    const pusher = new window.Pusher(key, {
      wsHost: '127.0.0.1', wsPort: port, forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1', disableStats: true,
    });
    const ch = pusher.subscribe('room');
    ch.bind('pusher:subscription_succeeded', () => { window.pjs.subscribed = true; });
    ch.bind('n', (d) => window.pjs.events.push(d));
    ch.bind_global((event, data) => window.pjs.all.push(event));
    pusher.connection.bind('error', (e) => window.pjs.errors.push(String(e && e.type)));
  }, { key: apps.big.key, port: wsPort });
  await waitLog(page, () => window.pjs.subscribed);

  for (const n of range(1, 5)) {
    await trigger(apps.big, 'room', 'n', { n });
  }
  await waitLog(page, () => window.log.events.length === 5 && window.pjs.events.length === 5);
  await cutAndPublish(page, apps.big, 'room', 6, 55);
  await waitLog(page, () => window.log.outcomes.length === 1 && window.log.events.length >= 55);
  await sleep(300); // anything extra would arrive now
  const log = await pageLog(page);
  assert.deepEqual(log.outcomes, [{ event: 'recovered', epoch: log.outcomes[0].epoch, offset: 55, missed: 50 }]);
  assert.deepEqual(log.events.map((e) => e.n), range(1, 55), 'every event exactly once, in order');
  assert.deepEqual(log.events.map((e) => e.offset), range(1, 55), 'with its offset');
  assert.equal(log.subscribed, 2, 'subscribed again after the reconnect');

  const pjs = await page.evaluate(() => window.pjs);
  assert.deepEqual(pjs.events, range(1, 55).map((n) => ({ n })), 'pusher-js got each event live, data unchanged');
  assert.deepEqual(pjs.all, ['pusher:subscription_succeeded', ...range(1, 55).map(() => 'n')], 'and nothing else');
  assert.deepEqual(pjs.errors, []);

  // The live stream goes on after the replay.
  await trigger(apps.big, 'room', 'n', { n: 56 });
  await waitLog(page, () => window.log.events.length === 56 && window.pjs.events.length === 56);
  assert.deepEqual((await pageLog(page)).events[55], { n: 56, offset: 56 });
  await page.context().close();
});

test('with history.size 10 the client is told recovery failed and gets none of the 50 (ES-module build)', async () => {
  const page = await openClient(apps.small, 'room', 'push-vue.js');
  for (const n of range(1, 3)) {
    await trigger(apps.small, 'room', 'n', { n });
  }
  await waitLog(page, () => window.log.events.length === 3);
  await cutAndPublish(page, apps.small, 'room', 4, 53);
  await waitLog(page, () => window.log.outcomes.length === 1 && window.log.subscribed === 2);
  await trigger(apps.small, 'room', 'n', { n: 54 });
  await waitLog(page, () => window.log.events.length === 4);
  await sleep(300);
  const log = await pageLog(page);
  assert.deepEqual(log.outcomes, [{ event: 'recovery_failed', epoch: log.outcomes[0].epoch, offset: 53 }]);
  assert.deepEqual(log.events.map((e) => e.n), [1, 2, 3, 54], 'no partial history: only the live event after it');
  assert.equal(log.events[3].offset, 54);
  await page.context().close();
});

test('after a SIGTERM and restart of the broker the client is told its history is gone', async () => {
  const page = await openClient(apps.big, 'after-restart');
  await trigger(apps.big, 'after-restart', 'n', { n: 1 });
  await waitLog(page, () => window.log.events.length === 1);
  const before = await page.evaluate(() => window.push.channel('after-restart').epoch);
  assert.equal(await stopBroker('SIGTERM'), 0, 'a graceful shutdown exits 0');
  await waitLog(page, () => window.push.connection.state !== 'connected');
  await startBroker();
  await waitLog(page, () => window.log.outcomes.length === 1 && window.log.subscribed === 2);
  const log = await pageLog(page);
  assert.equal(log.outcomes[0].event, 'recovery_failed');
  assert.notEqual(log.outcomes[0].epoch, before, 'a new epoch');
  assert.equal(log.outcomes[0].offset, 0);
  await trigger(apps.big, 'after-restart', 'n', { n: 2 });
  await waitLog(page, () => window.log.events.length === 2);
  assert.deepEqual((await pageLog(page)).events, [{ n: 1, offset: 1 }, { n: 2, offset: 1 }]);
  await page.context().close();
});

test('no page threw an uncaught exception', () => {
  assert.deepEqual(pageErrors, []);
});
