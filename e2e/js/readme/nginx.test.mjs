// Herald behind the README's nginx block (started by e2e/readme_test.go on
// HERALD_NGINX_PORT with a certificate its test made, trusted through
// NODE_EXTRA_CA_CERTS): the README's TLS settings for pusher-js and the
// Node SDK, with push.example.com and 443 replaced by that address, carry
// an event from the SDK to a pusher-js subscriber through nginx, and the
// JavaScript client and /healthz are served through it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import vm from 'node:vm';
import PusherClient from 'pusher-js';
import { connected, record, subscribe, uniq } from '../helpers.mjs';
import { blocksAfter, nodeModules, replaceOnce, repo } from './readme.mjs';

const port = process.env.HERALD_NGINX_PORT;
const host = '127.0.0.1';
const base = `https://${host}:${port}`;
const WAIT = 20000;

/** Runs a README snippet in a fresh context with globals and returns its `pusher`. */
function evaluate(code, globals) {
  const context = vm.createContext({ ...globals });
  vm.runInContext(code, context, { filename: 'README.md' });
  return vm.runInContext('pusher', context);
}

test('nginx is set up by the test', () => {
  assert.match(port ?? '', /^\d+$/, 'HERALD_NGINX_PORT');
  assert.ok(process.env.NODE_EXTRA_CA_CERTS, 'NODE_EXTRA_CA_CERTS');
});

test('pusher-js with forceTLS receives an event the SDK (useTLS) sends, both through nginx', async (t) => {
  const [clientCode, sdkCode] = blocksAfter('Then the clients use port 443', 'js', 2);
  const tls = (code, from, to) => replaceOnce(replaceOnce(code, "'push.example.com'", `'${host}'`), from, to);

  const client = evaluate(tls(clientCode, 'wssPort: 443', `wssPort: ${port}`), { Pusher: PusherClient });
  t.after(() => client.disconnect());
  assert.equal(client.config.useTLS, true, 'forceTLS: the client uses wss');
  await connected(client, WAIT);
  const url = client.connection.connection?.transport?.socket?.url ?? '';
  assert.ok(url.startsWith(`wss://${host}:${port}/app/app-key`), `connected through nginx over TLS: ${url}`);

  const channel = uniq('nginx');
  const { channel: ch } = await subscribe(client, channel, WAIT);
  const got = record(ch);

  const server = evaluate(tls(sdkCode, "port: '443'", `port: '${port}'`), {
    require: createRequire(join(nodeModules, '..', 'package.json')),
  });
  const res = await server.trigger(channel, 'message', { text: 'through nginx' });
  assert.equal(res.status, 200);
  const e = await got.waitFor('message', WAIT);
  assert.deepEqual(e.data, { text: 'through nginx' });

  // The API answers through nginx too (a signed GET).
  const info = await (await server.get({ path: `/channels/${channel}`, params: { info: 'subscription_count' } })).json();
  assert.equal(info.occupied, true);
  assert.equal(info.subscription_count, 1);
});

test('the JavaScript client and /healthz are served through nginx', async () => {
  const dist = readFileSync(join(repo, 'web', 'dist', 'push.js'), 'utf8');
  for (const path of ['/push.js', '/plugin/webman/push/push.js']) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-type'), 'application/javascript; charset=utf-8', path);
    assert.equal(await res.text(), dist, path);
  }
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { ok: true });
});
