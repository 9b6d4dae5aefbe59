// TLS: pusher-js with forceTLS connects over wss:// and the pusher SDK with
// useTLS calls the API over https://, both trusting Herald's test
// certificate through NODE_EXTRA_CA_CERTS. Run by e2e/js_test.go
// (TestPusherJSOverTLS) against a broker with TLS on both listeners.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, clientsFor, serverSdk, subscribe, record, uniq } from './helpers.mjs';

const tls = { forceTLS: true, wssPort: cfg.wsPort, enabledTransports: ['ws'] };

test('pusher-js over wss:// gets what the SDK triggers over https://', async (t) => {
  assert.equal(process.env.HERALD_TLS, '1', 'needs a broker serving TLS (TestPusherJSOverTLS)');
  const sdk = serverSdk({ useTLS: true });
  const clients = clientsFor(t);
  const client = await clients.connect({ sdk, client: tls });
  assert.match(client.sockets[0].url, /^wss:\/\/127\.0\.0\.1:\d+\/app\//, 'the socket is wss://');

  const name = uniq('private-tls');
  const { channel } = await subscribe(client, name); // signed by the SDK: the secret is right
  const events = record(channel);
  const res = await sdk.trigger(name, 'secure', { text: 'over TLS' });
  assert.equal(res.status, 200);
  assert.deepEqual((await events.waitFor('secure')).data, { text: 'over TLS' });

  const info = await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
  assert.deepEqual(await info.json(), { occupied: true, subscription_count: 1 });
});

test('the SDK without useTLS cannot talk to the https:// listener', async () => {
  const plain = serverSdk({ useTLS: false });
  await assert.rejects(plain.trigger(uniq('plain'), 'e', {}), 'a plain HTTP request to a TLS listener fails');
});
