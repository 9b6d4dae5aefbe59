// The demo's layout on a phone (390×844, a mobile viewport) and on a
// laptop (1280×800), in real headless Chromium against a real broker in
// dev mode: no horizontal scrolling, every control visible, inside the
// viewport and usable, text at a readable size. Long names and words are
// in the page, since they are what widens a layout. A screenshot of each
// size goes to the test's temp dir (or E2E_SCREENSHOTS, which is kept).
//
//   cd web/e2e && npm ci && node --test layout.test.mjs
//
// The broker is built from ./cmd/herald (or E2E_BROKER_BIN) and started on
// free loopback ports; Chromium is /usr/bin/chromium unless CHROMIUM says
// otherwise. Every wait is on the DOM, none on a clock.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const WAIT = 20000;

// The controls and texts that must be on screen at every size.
const KEY = ['h1', '#state', '#me-name', '#members', '#messages', '#chat-input', '#chat-send',
  '#dm-to', '#dm-input', '#dm-send', '#try-forbidden'];
// A word with no break opportunity and the longest name the page accepts.
const LONG_WORD = 'x'.repeat(180);
const LONG_NAME = 'Bartholomew-Maximilian-Fitzgerald-Smythe'.slice(0, 40);

let tmp;
let shots;
let broker;
let brokerLog = '';
let browser;
let wsPort;
let apiPort;

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

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'herald-layout-'));
  shots = process.env.E2E_SCREENSHOTS || tmp;
  mkdirSync(shots, { recursive: true });
  let bin = process.env.E2E_BROKER_BIN;
  if (!bin) {
    bin = join(tmp, 'herald');
    execFileSync('go', ['build', '-o', bin, './cmd/herald'], { cwd: repo, stdio: 'inherit' });
  }
  wsPort = await freePort();
  apiPort = await freePort();
  // Herald refuses HERALD_ variables it does not know: pass only ours.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('HERALD_')));
  Object.assign(env, { HERALD_WEBSOCKET_LISTEN: `127.0.0.1:${wsPort}`, HERALD_API_LISTEN: `127.0.0.1:${apiPort}` });
  broker = spawn(bin, [], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
  broker.stdout.on('data', (b) => { brokerLog += b; });
  broker.stderr.on('data', (b) => { brokerLog += b; });
  const exited = new Promise((ok) => broker.once('exit', (code, sig) => ok(`exited ${code ?? sig}`)));
  for (let i = 0; ; i++) {
    const r = await Promise.race([fetch(`${api()}/demo/`).then((res) => res.status, () => 0), exited]);
    if (typeof r === 'string') throw new Error(`broker ${r} before it was ready:\n${brokerLog}`);
    if (r === 200) break;
    if (i >= 150) throw new Error(`broker not ready:\n${brokerLog}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (broker && broker.exitCode === null && broker.signalCode === null) {
    const gone = new Promise((ok) => broker.once('exit', ok));
    broker.kill('SIGTERM');
    await gone;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** What the page measures of itself: overflow, and each KEY element's box and style. */
function measure(keys) {
  const out = {
    innerWidth, innerHeight,
    scrollWidth: document.scrollingElement.scrollWidth,
    elements: {},
    smallText: [],
  };
  for (const sel of keys) {
    const el = document.querySelector(sel);
    if (!el) {
      out.elements[sel] = null;
      continue;
    }
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    out.elements[sel] = {
      visible: el.checkVisibility({ opacityProperty: true, visibilityProperty: true }),
      left: r.left, right: r.right, width: r.width, height: r.height,
      fontSize: parseFloat(cs.fontSize),
    };
  }
  // Every element that shows text of its own, at its computed size.
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
    if (own && el.checkVisibility() && parseFloat(getComputedStyle(el).fontSize) < 12) {
      out.smallText.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${getComputedStyle(el).fontSize}`);
    }
  }
  return out;
}

for (const size of [
  { width: 390, height: 844, phone: true, id: 'phone', name: LONG_NAME },
  { width: 1280, height: 800, phone: false, id: 'laptop', name: 'Laptop' },
]) {
  test(`the demo fits ${size.width}×${size.height}`, async (t) => {
    const context = await browser.newContext({
      viewport: { width: size.width, height: size.height },
      isMobile: size.phone, hasTouch: size.phone, deviceScaleFactor: size.phone ? 3 : 1,
    });
    t.after(() => context.close());
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const ws = encodeURIComponent(`ws://127.0.0.1:${wsPort}`);
    await page.goto(`${api()}/demo/?id=${size.id}&name=${encodeURIComponent(size.name)}&ws=${ws}`);
    await page.locator('#state[data-state="connected"]').waitFor();
    await page.locator(`#members li[data-user-id="${size.id}"]`).waitFor();
    await page.locator('body[data-room="subscribed"]').waitFor();

    // The controls work at this size: a message typed and sent here comes
    // back through the broker, and a long unbroken word is shown too.
    await page.fill('#chat-input', `hello from the ${size.id} ${LONG_WORD}`);
    await page.click('#chat-send');
    await page.locator(`#messages li.msg-room[data-from="${size.id}"]`).filter({ hasText: LONG_WORD }).waitFor();

    const m = await page.evaluate(measure, KEY);
    assert.equal(m.innerWidth, size.width, 'the layout viewport is the device width (meta viewport)');
    assert.ok(m.scrollWidth <= m.innerWidth, `no horizontal scroll: scrollWidth ${m.scrollWidth} > innerWidth ${m.innerWidth}`);
    for (const sel of KEY) {
      const e = m.elements[sel];
      assert.ok(e, `${sel} exists`);
      assert.ok(e.visible && e.width > 0 && e.height > 0, `${sel} is visible: ${JSON.stringify(e)}`);
      assert.ok(e.left >= 0 && e.right <= m.innerWidth + 0.5, `${sel} is inside the viewport's width: ${JSON.stringify(e)}`);
      if (size.phone && /input|send|dm-to|try-forbidden/.test(sel)) {
        assert.ok(e.height >= 40, `${sel} is tall enough to tap: ${e.height}px`);
        assert.ok(e.fontSize >= 16, `${sel} has 16px text (no zoom on focus): ${e.fontSize}px`);
      }
    }
    assert.deepEqual(m.smallText, [], 'no text smaller than 12px');
    // Each control can be scrolled to and is then wholly on screen.
    for (const sel of KEY) {
      await page.locator(sel).scrollIntoViewIfNeeded();
      const box = await page.locator(sel).evaluate((el) => {
        const r = el.getBoundingClientRect();
        return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
      });
      assert.ok(box.top >= 0 && box.bottom <= size.height + 0.5 && box.left >= 0 && box.right <= size.width + 0.5,
        `${sel} is inside the viewport once scrolled to: ${JSON.stringify(box)}`);
    }

    await page.evaluate(() => window.scrollTo(0, 0));
    const file = join(shots, `demo-${size.width}x${size.height}.png`);
    await page.screenshot({ path: file, fullPage: true });
    assert.equal(readFileSync(file).subarray(1, 4).toString(), 'PNG', `${file} is a PNG`);
    t.diagnostic(`screenshot: ${file}`);
    assert.deepEqual(errors, [], 'no script errors');
  });
}
