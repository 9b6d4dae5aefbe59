// Browser tests of the demo page and the client builds, in real headless
// Chromium against a real broker.
//
//   cd web/e2e && npm ci && node --test
//
// The broker is built from ./cmd/herald (or E2E_BROKER_BIN, a built
// binary) and started on free loopback ports through HERALD_WEBSOCKET_LISTEN
// and HERALD_API_LISTEN with no apps configured, i.e. in dev mode, where it
// serves the client and /demo/. Chromium is /usr/bin/chromium unless
// CHROMIUM says otherwise. Screenshots go to web/e2e/screenshots/ (or
// E2E_SCREENSHOTS). Every wait is on the DOM, none on a clock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const shots = process.env.E2E_SCREENSHOTS || join(here, 'screenshots');
const WAIT = 20000;

let tmp;
let bin;
let wsPort;
let apiPort;
let broker;
let brokerLog = '';
let browser;
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

const api = () => `http://127.0.0.1:${apiPort}`;
const wsURL = () => `ws://127.0.0.1:${wsPort}`;

async function startBroker() {
  brokerLog += `--- start ${new Date().toISOString()}\n`;
  // Herald refuses HERALD_ variables it does not know: pass only ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  Object.assign(env, { HERALD_WEBSOCKET_LISTEN: `127.0.0.1:${wsPort}`, HERALD_API_LISTEN: `127.0.0.1:${apiPort}` });
  broker = spawn(bin, [], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((ok) => broker.once('exit', (code, sig) => ok(`exited ${code ?? sig}`)));
  broker.stdout.on('data', (b) => { brokerLog += b; });
  broker.stderr.on('data', (b) => { brokerLog += b; });
  // Ready when the demo page answers (bounded: 150 tries).
  for (let i = 0; i < 150; i++) {
    const r = await Promise.race([
      fetch(`${api()}/demo/`).then((res) => res.status, () => 0),
      exited,
    ]);
    if (typeof r === 'string') throw new Error(`broker ${r} before it was ready:\n${brokerLog}`);
    if (r === 200) return;
    if (r === 404) throw new Error(`broker answers but serves no /demo/ (dev mode mounts missing?):\n${brokerLog}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`broker not ready:\n${brokerLog}`);
}

async function killBroker() {
  if (!broker || broker.exitCode !== null || broker.signalCode !== null) return;
  const gone = new Promise((ok) => broker.once('exit', ok));
  broker.kill('SIGKILL');
  await gone;
}

async function publish(text, from = { id: 'api', name: 'api' }) {
  const res = await fetch(`${api()}/demo/publish`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ channel: 'demo-room', event: 'message', data: JSON.stringify({ from, text }) }),
  });
  assert.equal(res.status, 200, await res.text());
}

async function openPage(path) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
  await page.goto(`${api()}${path}`);
  return page;
}

const demoPath = (id, name) => `/demo/?id=${id}&name=${name}&ws=${encodeURIComponent(wsURL())}`;

async function message(page, selector, text) {
  await page.locator(selector).filter({ hasText: text }).first().waitFor();
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'herald-e2e-'));
  mkdirSync(shots, { recursive: true });
  bin = process.env.E2E_BROKER_BIN;
  if (!bin) {
    bin = join(tmp, 'herald');
    execFileSync('go', ['build', '-o', bin, './cmd/herald'], { cwd: repo, stdio: 'inherit' });
  }
  wsPort = await freePort();
  apiPort = await freePort();
  await startBroker();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // Playwright gives each launch a fresh temporary profile.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  await killBroker();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

let alice;
let bob;

test('the client is served at /push.js and /plugin/webman/push/push.js', async () => {
  const dist = readFileSync(join(repo, 'web', 'dist', 'push.js'), 'utf8');
  for (const p of ['/push.js', '/plugin/webman/push/push.js']) {
    const res = await fetch(`${api()}${p}`);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers.get('content-type'), 'application/javascript; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'public, max-age=300');
    assert.equal(await res.text(), dist);
    const again = await fetch(`${api()}${p}`, { headers: { 'If-None-Match': res.headers.get('etag') } });
    assert.equal(again.status, 304);
  }
  const vue = await fetch(`${api()}/push-vue.js`);
  assert.match(await vue.text(), /export default Push;/);
});

test('two pages connect and see each other in the presence list', async () => {
  alice = await openPage(demoPath('alice', 'Alice'));
  bob = await openPage(demoPath('bob', 'Bob'));
  for (const page of [alice, bob]) {
    await page.locator('#state[data-state="connected"]').waitFor();
    await page.locator('#members li[data-user-id="alice"]').waitFor();
    await page.locator('#members li[data-user-id="bob"]').waitFor();
    await page.locator('#member-count[data-count="2"]').waitFor();
  }
  assert.equal(await alice.locator('#members li[data-user-id="bob"]').textContent(), 'Bob');
  assert.equal(await bob.locator('#members li[data-user-id="alice"]').textContent(), 'Alice');
});

test('a room message sent through the API reaches the other page', async () => {
  await bob.locator('body[data-room="subscribed"]').waitFor();
  await alice.locator('body[data-room="subscribed"]').waitFor();
  await alice.fill('#chat-input', 'hello room from alice');
  await alice.click('#chat-send');
  await message(bob, '#messages li.msg-room[data-from="alice"]', 'hello room from alice');
  await message(alice, '#messages li.msg-room[data-from="alice"]', 'hello room from alice');
});

test('a private message sent as a client event reaches the other page', async () => {
  // Both ends of private-dm-alice-bob are subscribed.
  await alice.locator('#members li[data-user-id="bob"][data-dm="ready"]').waitFor();
  await bob.locator('#members li[data-user-id="alice"][data-dm="ready"]').waitFor();
  await alice.selectOption('#dm-to', 'bob');
  await alice.fill('#dm-input', 'psst bob, alice here');
  await alice.click('#dm-send');
  await message(bob, '#messages li.msg-dm[data-from="alice"]', 'psst bob, alice here');
  await bob.screenshot({ path: join(shots, 'demo-bob.png'), fullPage: true });
  await alice.screenshot({ path: join(shots, 'demo-alice.png'), fullPage: true });
});

test('a rejected private-channel auth surfaces pusher:subscription_error', async () => {
  await alice.click('#try-forbidden');
  await message(alice, '#errors li', 'private-forbidden: AuthError 403');
  // The page is still working.
  assert.equal(await alice.getAttribute('#state', 'data-state'), 'connected');
});

test('the presence list shrinks when a page closes', async () => {
  await bob.context().close();
  bob = null;
  await alice.locator('#members li[data-user-id="bob"]').waitFor({ state: 'detached' });
  await alice.locator('#member-count[data-count="1"]').waitFor();
  await message(alice, '#messages li.msg-system', 'Bob left');
});

test('after the broker is killed and restarted the page reconnects and receives again', async () => {
  await killBroker();
  await alice.locator('#state:not([data-state="connected"])').waitFor();
  await alice.locator('body:not([data-room])').waitFor();
  await startBroker();
  await alice.locator('#state[data-state="connected"]').waitFor();
  await alice.locator('body[data-room="subscribed"]').waitFor();
  // presence-demo was subscribed again with fresh auth
  await alice.locator('#members li[data-user-id="alice"]').waitFor();
  await publish('welcome back', { id: 'server', name: 'server' });
  await message(alice, '#messages li.msg-room[data-from="server"]', 'welcome back');
  await alice.screenshot({ path: join(shots, 'demo-after-restart.png'), fullPage: true });
});

test('the ES-module (Vue) build works from a module page', async () => {
  const page = await openPage(`/demo/vue.html?ws=${encodeURIComponent(wsURL())}`);
  await page.locator('body[data-esm="ok"]').waitFor();
  await page.locator('#state[data-state="connected"]').waitFor();
  // state_change fires for "connected" (webman's push-vue.js never did).
  await page.locator('#states li[data-change="connecting>connected"]').waitFor();
  await page.locator('body[data-room="subscribed"]').waitFor();
  await publish('hello modules');
  await message(page, '#messages li.msg-room', 'hello modules');
  await page.screenshot({ path: join(shots, 'vue-page.png'), fullPage: true });
  await page.context().close();
});

test('no page threw an uncaught exception', () => {
  assert.deepEqual(pageErrors, []);
});
