// The dashboard in real headless Chromium against a real Herald with
// dashboard.token set: e2e/dashboard_test.go starts the broker and passes
// the token in E2E_DASHBOARD_TOKEN (and a folder for the screenshots in
// E2E_SCREENSHOTS). The traffic it shows comes from real pusher-js clients
// and the pusher SDK. Chromium is /usr/bin/chromium unless CHROMIUM says
// otherwise. Every wait is on the DOM, bounded generously, except the
// issue's own bound: a publish and a client event appear in the console
// within 2 s (measured: tens of milliseconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { cfg, clientsFor, sdk, subscribe, uniq } from '../helpers.mjs';

const token = process.env.E2E_DASHBOARD_TOKEN;
const shots = process.env.E2E_SCREENSHOTS;
const base = `http://${cfg.apiHost}:${cfg.apiPort}/dashboard/`;
const WAIT = 20000;

let browser;
const pageErrors = [];

before(async () => {
  assert.ok(token, 'E2E_DASHBOARD_TOKEN is set (run through e2e/dashboard_test.go)');
  assert.ok(shots, 'E2E_SCREENSHOTS is set');
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function openPage(size, withToken = true) {
  const context = await browser.newContext({
    viewport: { width: size.width, height: size.height },
    isMobile: !!size.phone, hasTouch: !!size.phone, deviceScaleFactor: size.phone ? 3 : 1,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(withToken ? `${base}#token=${encodeURIComponent(token)}` : base);
  return { context, page };
}

const countOf = async (page, id) => Number(await page.getAttribute(`#${id}`, 'data-value'));

/** Runs action and waits, at most 2 s, for selector in the console; returns the milliseconds it took. */
async function appears(page, selector, action) {
  const start = Date.now();
  await action();
  await page.locator(`#console ${selector}`).first().waitFor({ timeout: 2000 });
  return Date.now() - start;
}

test('without the token the data answers 401 and the page asks for it', async (t) => {
  for (const path of ['api/overview', `api/channels?app=${cfg.appId}`, 'api/events']) {
    const res = await fetch(base + path);
    assert.equal(res.status, 401, path);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = await res.json();
    assert.equal(body.code, 401);
    assert.ok(body.error, 'a JSON error message');
  }
  const wrong = await fetch(`${base}api/events?token=${encodeURIComponent(token)}x`);
  assert.equal(wrong.status, 401, 'a wrong ?token= is refused');
  const bearer = await fetch(`${base}api/overview`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(bearer.status, 200, 'the right token is accepted');

  const { context, page } = await openPage({ width: 1280, height: 800 }, false);
  t.after(() => context.close());
  await page.locator('#login').waitFor();
  assert.equal(await page.locator('#main').isVisible(), false, 'no data without the token');
  await page.fill('#token-input', 'not-the-token-at-all');
  await page.click('#token-save');
  await page.locator('#login-error', { hasText: 'refused' }).waitFor();
  await page.fill('#token-input', token);
  await page.click('#token-save');
  await page.locator('#live[data-state="live"]').waitFor();
  assert.equal(await page.locator('#login').isVisible(), false);
});

test('with the token the console shows connections, client events and API publishes as they happen', async (t) => {
  const clients = clientsFor(t);
  const { context, page } = await openPage({ width: 1280, height: 800 });
  t.after(() => context.close());
  await page.locator('#live[data-state="live"]').waitFor();
  assert.equal(await page.evaluate(() => location.hash), '', 'the token is taken out of the address bar');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('herald-dashboard-token')), token);
  await page.locator('#app').selectOption(cfg.appId);
  const before = await countOf(page, 'count-connections');

  // A real pusher-js client connects: the console says so and the count moves.
  const a = await clients.connect();
  await page.locator('#console li[data-kind="connect"]', { hasText: a.connection.socket_id }).waitFor();
  await page.waitForFunction((n) => Number(document.getElementById('count-connections').dataset.value) > n, before);
  const b = await clients.connect();
  await page.waitForFunction((n) => Number(document.getElementById('count-connections').dataset.value) >= n + 2, before);

  // A client event from a real client.
  const room = uniq('private-dash-' + 'long'.repeat(25));
  const chA = (await subscribe(a, room)).channel;
  await subscribe(b, room);
  const msClient = await appears(page, `li[data-kind="client_event"][data-event="client-hello"][data-channel="${room}"]`,
    async () => assert.equal(chA.trigger('client-hello', { text: 'hi' }), true));

  // An API publish through the pusher SDK.
  const news = uniq('dash-news');
  const msPublish = await appears(page, `li[data-kind="publish"][data-event="headline"][data-channel="${news}"]`,
    () => sdk.trigger(news, 'headline', { text: 'hello' }));
  t.diagnostic(`shown in the console after: client event ${msClient} ms, API publish ${msPublish} ms`);

  // The channel list has the room with both subscribers.
  await page.locator(`#channels tr[data-channel="${room}"][data-subscriptions="2"]`).waitFor();
  await page.waitForFunction(() => Number(document.getElementById('count-messages').dataset.value) > 0
    || document.getElementById('sub-messages').textContent !== '0 total');

  // Filtered to client events, the console is refilled from what the
  // broker kept, with client events only.
  await page.selectOption('#filter-kind', 'client_event,client_event_refused');
  await page.locator('#console[data-filter-kind="client_event,client_event_refused"]').waitFor();
  await page.locator(`#console li[data-event="client-hello"]`).waitFor();
  const kinds = await page.$$eval('#console li[data-kind]', (lis) => [...new Set(lis.map((li) => li.dataset.kind))]);
  assert.deepEqual(kinds, ['client_event'], 'only client events once filtered');

  // Paused, new events wait and are counted; resumed, they are shown.
  await page.click('#pause');
  await page.locator('#live[data-state="paused"]').waitFor();
  chA.trigger('client-while-paused', {});
  await page.locator('#pause', { hasText: 'Resume (1 new)' }).waitFor();
  assert.equal(await page.locator('#console li[data-event="client-while-paused"]').count(), 0, 'nothing shown while paused');
  await page.click('#pause');
  await page.locator('#console li[data-event="client-while-paused"]').waitFor();
  await page.locator('#live[data-state="live"]').waitFor();

  // Filtered by channel name.
  await page.selectOption('#filter-kind', '');
  await page.fill('#filter-channel', news);
  await page.locator(`#console[data-filter-channel="${news}"][data-filter-kind=""]`).waitFor();
  await page.locator(`#console li[data-channel="${news}"]`).waitFor();
  const channels = await page.$$eval('#console li[data-kind]', (lis) => [...new Set(lis.map((li) => li.dataset.channel))]);
  assert.deepEqual(channels, [news], 'only the filtered channel');

  // A client that leaves is seen leaving.
  const before2 = await countOf(page, 'count-connections');
  b.disconnect();
  await page.waitForFunction((n) => Number(document.getElementById('count-connections').dataset.value) < n, before2);
  assert.deepEqual(pageErrors, [], 'no script errors');
});

/** What the page measures of itself: overflow, and each element's box and style. */
function measure(keys) {
  const out = { innerWidth, scrollWidth: document.scrollingElement.scrollWidth, elements: {}, smallText: [] };
  for (const sel of keys) {
    const el = document.querySelector(sel);
    if (!el) {
      out.elements[sel] = null;
      continue;
    }
    const r = el.getBoundingClientRect();
    out.elements[sel] = {
      visible: el.checkVisibility({ opacityProperty: true, visibilityProperty: true }),
      left: r.left, right: r.right, width: r.width, height: r.height,
      fontSize: parseFloat(getComputedStyle(el).fontSize),
    };
  }
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
    if (own && el.checkVisibility() && parseFloat(getComputedStyle(el).fontSize) < 12) {
      out.smallText.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${getComputedStyle(el).fontSize}`);
    }
  }
  return out;
}

const KEY = ['h1', '#live', '#app', '#count-connections', '#count-channels', '#count-messages', '#count-api',
  '#count-webhooks', '#filter-app', '#filter-channel', '#filter-kind', '#pause', '#console', '#channels'];

for (const size of [
  { width: 1280, height: 800, name: 'laptop' },
  { width: 390, height: 844, phone: true, name: 'phone' },
]) {
  test(`the dashboard fits ${size.width}×${size.height}`, async (t) => {
    const clients = clientsFor(t);
    const { context, page } = await openPage(size);
    t.after(() => context.close());
    await page.locator('#live[data-state="live"]').waitFor();
    await page.locator('#app').selectOption(cfg.appId);

    // Long names are what widen a layout: a long channel in the list and
    // in the console.
    const c = await clients.connect();
    const long = uniq('private-' + 'wide'.repeat(34));
    await subscribe(c, long);
    await sdk.trigger(long, 'event-' + 'x'.repeat(150), { n: 1 });
    await page.locator(`#console li[data-kind="publish"][data-channel="${long}"]`).waitFor();
    await page.locator(`#channels tr[data-channel="${long}"]`).waitFor();
    await page.waitForFunction(() => Number(document.getElementById('count-connections').dataset.value) >= 1);

    const m = await page.evaluate(measure, KEY);
    assert.equal(m.innerWidth, size.width, 'the layout viewport is the device width');
    assert.ok(m.scrollWidth <= m.innerWidth, `no horizontal scroll: scrollWidth ${m.scrollWidth} > ${m.innerWidth}`);
    for (const sel of KEY) {
      const e = m.elements[sel];
      assert.ok(e, `${sel} exists`);
      assert.ok(e.visible && e.width > 0 && e.height > 0, `${sel} is visible: ${JSON.stringify(e)}`);
      assert.ok(e.left >= 0 && e.right <= m.innerWidth + 0.5, `${sel} is inside the viewport's width: ${JSON.stringify(e)}`);
      if (size.phone && /filter|pause|#app/.test(sel)) {
        assert.ok(e.height >= 40, `${sel} is tall enough to tap: ${e.height}px`);
        assert.ok(e.fontSize >= 16, `${sel} has 16px text (no zoom on focus): ${e.fontSize}px`);
      }
    }
    assert.deepEqual(m.smallText, [], 'no text smaller than 12px');
    // The counts are on the first screen.
    const counts = await page.locator('#counts').evaluate((el) => el.getBoundingClientRect().top);
    assert.ok(counts < size.height / 2, `the counts start in the first half of the screen: ${counts}px`);
    // The console row with the long names wraps inside the console.
    const row = await page.locator(`#console li[data-channel="${long}"]`).first().evaluate((el) => {
      const r = el.getBoundingClientRect();
      const list = el.parentElement.getBoundingClientRect();
      return { left: r.left, right: r.right, listRight: list.right, scroll: el.parentElement.scrollWidth, client: el.parentElement.clientWidth };
    });
    assert.ok(row.right <= row.listRight + 0.5 && row.scroll <= row.client, `the long row wraps: ${JSON.stringify(row)}`);

    const file = join(shots, `dashboard-${size.width}x${size.height}.png`);
    await page.screenshot({ path: file, fullPage: true });
    assert.equal(readFileSync(file).subarray(1, 4).toString(), 'PNG', `${file} is a PNG`);
    t.diagnostic(`screenshot: ${file}`);
    assert.deepEqual(pageErrors, [], 'no script errors');
  });
}
