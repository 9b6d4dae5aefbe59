// The HTTP API through the official pusher SDK (and hand-signed requests
// for what the SDK refuses to send): batches, channel queries, trigger
// info, limits and errors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientsFor, sdk, serverSdk, subscribe, record, uniq, eventually,
  signedFetch, expectStatus, assertErrorBody,
} from './helpers.mjs';

test('triggerBatch: several events on several channels are all delivered', async (t) => {
  const clients = clientsFor(t);
  const a = await clients.connect();
  const b = await clients.connect();
  const pub = uniq('batch-pub');
  const priv = uniq('private-batch');
  const pres = uniq('presence-batch');
  const recs = {
    [pub]: record((await subscribe(a, pub)).channel),
    [priv]: record((await subscribe(a, priv)).channel),
  };
  const b2 = await clients.connect({ presence: { user_id: 'batch-user' } });
  recs[pres] = record((await subscribe(b2, pres)).channel);
  const recB = record((await subscribe(b, pub)).channel);

  const batch = [
    { channel: pub, name: 'e1', data: { n: 1 } },
    { channel: priv, name: 'e2', data: { n: 2 } },
    { channel: pres, name: 'e3', data: 'three' },
    { channel: pub, name: 'e4', data: { n: 4 } },
    { channel: priv, name: 'e5', data: [5] },
  ];
  const res = await sdk.triggerBatch(batch.map((e) => ({ ...e })));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});

  await recs[pub].waitFor('e1');
  await recs[pub].waitFor('e4');
  await recs[priv].waitFor('e2');
  await recs[priv].waitFor('e5');
  await recs[pres].waitFor('e3');
  await recB.waitFor('e1');
  await recB.waitFor('e4');
  assert.deepEqual(recs[pub].named('e1')[0].data, { n: 1 });
  assert.deepEqual(recs[priv].named('e2')[0].data, { n: 2 });
  assert.equal(recs[pres].named('e3')[0].data, 'three');
  assert.deepEqual(recs[pub].named('e4')[0].data, { n: 4 });
  assert.deepEqual(recs[priv].named('e5')[0].data, [5]);
  // Events of one channel arrive in batch order.
  const order = recs[pub].events.filter((e) => e.event === 'e1' || e.event === 'e4').map((e) => e.event);
  assert.deepEqual(order, ['e1', 'e4']);

  // With info, one entry per event, in order.
  const withInfo = await sdk.triggerBatch([
    { channel: pub, name: 'i1', data: {}, info: 'subscription_count' },
    { channel: pres, name: 'i2', data: {}, info: 'user_count,subscription_count' },
    { channel: uniq('batch-empty'), name: 'i3', data: {} },
  ]);
  assert.deepEqual(await withInfo.json(), {
    batch: [{ subscription_count: 2 }, { user_count: 1, subscription_count: 1 }, {}],
  });
});

test('triggerBatch of 11 events is refused with 400', async () => {
  const name = uniq('batch-11');
  // triggerBatch encodes each event's data in place: build fresh events.
  const events = (n) => Array.from({ length: n }, (_, i) => ({ channel: name, name: 'e', data: { i } }));
  await expectStatus(sdk.triggerBatch(events(11)), 400);
  // 10 is the limit, and allowed.
  const ok = await sdk.triggerBatch(events(10));
  assert.equal(ok.status, 200);
});

test('channel queries: /channels, /channels/{name}, /channels/{name}/users', async (t) => {
  const clients = clientsFor(t);
  const prefix = uniq('q');
  const pres = `presence-${prefix}-room`;
  const pub1 = `${prefix}-pub-1`;
  const pub2 = `${prefix}-pub-2`;
  const empty = `presence-${prefix}-empty`;

  const u1a = await clients.connect({ presence: { user_id: 'u1', user_info: { name: 'one' } } });
  const u1b = await clients.connect({ presence: { user_id: 'u1', user_info: { name: 'one' } } });
  const u2 = await clients.connect({ presence: { user_id: 'u2' } });
  await subscribe(u1a, pres);
  await subscribe(u1b, pres);
  await subscribe(u2, pres);
  await subscribe(u1a, pub1);
  await subscribe(u2, pub1);
  await subscribe(u2, pub2);

  await eventually(async () => {
    const res = await sdk.get({ path: '/channels', params: { filter_by_prefix: `presence-${prefix}`, info: 'user_count' } });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { channels: { [pres]: { user_count: 2 } } });
  });

  let res = await sdk.get({ path: '/channels', params: { filter_by_prefix: prefix } });
  assert.deepEqual(await res.json(), { channels: { [pub1]: {}, [pub2]: {} } },
    'occupied channels with the prefix, no attributes without info');

  res = await sdk.get({ path: '/channels', params: { filter_by_prefix: prefix, info: 'subscription_count' } });
  assert.deepEqual(await res.json(), { channels: { [pub1]: { subscription_count: 2 }, [pub2]: { subscription_count: 1 } } });

  // Without filter_by_prefix every occupied channel is listed, ours among them.
  res = await sdk.get({ path: '/channels' });
  const all = (await res.json()).channels;
  for (const name of [pres, pub1, pub2]) assert.ok(name in all, `${name} in /channels`);
  assert.ok(!(empty in all));

  // user_count is only valid for presence- prefixes.
  await expectStatus(sdk.get({ path: '/channels', params: { filter_by_prefix: prefix, info: 'user_count' } }), 400);
  await expectStatus(sdk.get({ path: '/channels', params: { info: 'user_count' } }), 400);

  res = await sdk.get({ path: `/channels/${pres}`, params: { info: 'user_count,subscription_count' } });
  assert.deepEqual(await res.json(), { occupied: true, user_count: 2, subscription_count: 3 });
  res = await sdk.get({ path: `/channels/${pres}` });
  assert.deepEqual(await res.json(), { occupied: true });
  res = await sdk.get({ path: `/channels/${pub1}`, params: { info: 'subscription_count' } });
  assert.deepEqual(await res.json(), { occupied: true, subscription_count: 2 });
  res = await sdk.get({ path: `/channels/${empty}`, params: { info: 'user_count' } });
  const emptyInfo = await res.json();
  assert.equal(emptyInfo.occupied, false);

  res = await sdk.get({ path: `/channels/${pres}/users` });
  const users = await res.json();
  assert.deepEqual(Object.keys(users), ['users']);
  assert.deepEqual(users.users.map((u) => u.id).sort(), ['u1', 'u2']);
  for (const u of users.users) assert.deepEqual(Object.keys(u), ['id']);

  // /users of a channel that is not presence is refused.
  await expectStatus(sdk.get({ path: `/channels/${pub1}/users` }), 400);

  // A trigger asking for info gets the counts of its channels.
  res = await sdk.trigger([pres, pub1], 'counted', {}, { info: 'subscription_count' });
  assert.deepEqual(await res.json(), {
    channels: { [pres]: { subscription_count: 3 }, [pub1]: { subscription_count: 2 } },
  });
  res = await sdk.trigger(pres, 'counted', {}, { info: 'user_count,subscription_count' });
  assert.deepEqual(await res.json(), { channels: { [pres]: { user_count: 2, subscription_count: 3 } } });
  res = await sdk.trigger(pub2, 'counted', {}, { info: 'user_count' });
  assert.deepEqual(await res.json(), { channels: { [pub2]: {} } }, 'user_count only on presence channels');

  // When everyone leaves, the channels are no longer listed.
  clients.closeAll();
  await eventually(async () => {
    const r = await sdk.get({ path: '/channels', params: { filter_by_prefix: prefix } });
    assert.deepEqual(await r.json(), { channels: {} });
    const p = await sdk.get({ path: '/channels', params: { filter_by_prefix: `presence-${prefix}`, info: 'user_count' } });
    assert.deepEqual(await p.json(), { channels: {} });
  });
  res = await sdk.get({ path: `/channels/${pres}/users` });
  assert.deepEqual(await res.json(), { users: [] });
});

test('data over 10 KB is refused with 413; 10 KB exactly is delivered', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('big');
  const client = await clients.connect();
  const rec = record((await subscribe(client, name)).channel);

  await expectStatus(sdk.trigger(name, 'big', 'x'.repeat(10 * 1024 + 1)), 413);
  await expectStatus(sdk.triggerBatch([{ channel: name, name: 'big', data: 'y'.repeat(10 * 1024 + 1) }]), 413);

  const max = 'z'.repeat(10 * 1024);
  const res = await sdk.trigger(name, 'max', max);
  assert.equal(res.status, 200);
  const e = await rec.waitFor('max');
  assert.equal(e.data, max);
  await sdk.trigger(name, 'marker', {});
  await rec.waitFor('marker');
  assert.equal(rec.named('big').length, 0, 'a refused event was delivered');
});

test('more than 100 channels in one trigger is refused with 400', async () => {
  // The SDK refuses this before sending ...
  const channels = Array.from({ length: 101 }, (_, i) => `many-${i}`);
  assert.throws(() => sdk.trigger(channels, 'e', {}), /more than 100 channels/);
  // ... so sign the request by hand.
  const body = JSON.stringify({ name: 'e', data: '{}', channels });
  const res = await signedFetch('POST', '/events', { body });
  assert.equal(res.status, 400, res.body);
  assertErrorBody(res.body, 400);
  assert.match(res.contentType || '', /application\/json/);

  const ok = await signedFetch('POST', '/events', { body: JSON.stringify({ name: 'e', data: '{}', channels: channels.slice(0, 100) }) });
  assert.equal(ok.status, 200, ok.body);
});

test('a bad secret is refused with 401', async () => {
  const bad = serverSdk({ secret: 'not-the-secret' });
  await expectStatus(bad.trigger(uniq('sec'), 'e', {}), 401);
  await expectStatus(bad.get({ path: '/channels' }), 401);
  await expectStatus(bad.triggerBatch([{ channel: uniq('sec'), name: 'e', data: {} }]), 401);
  // An unknown key, too.
  await expectStatus(serverSdk({ key: 'no-such-key' }).trigger(uniq('sec'), 'e', {}), 401);
});

test('a valid key with another app id is refused with 404', async () => {
  const wrong = serverSdk({ appId: 'not-the-app-id' });
  await expectStatus(wrong.trigger(uniq('wrongid'), 'e', {}), 404);
  await expectStatus(wrong.get({ path: '/channels' }), 404);
});

test('a body that is not JSON is refused with 400', async () => {
  for (const body of ['{not json', '[1,2', '"just a string"']) {
    const res = await signedFetch('POST', '/events', { body });
    assert.equal(res.status, 400, `${body}: ${res.body}`);
    assertErrorBody(res.body, 400);
  }
  const res = await signedFetch('POST', '/batch_events', { body: '{"batch": [' });
  assert.equal(res.status, 400, res.body);
  assertErrorBody(res.body, 400);
});

test('other invalid requests are refused with 400', async () => {
  // No channel, no name, a bad channel name, a bad socket_id.
  const cases = [
    { name: 'e', data: '{}' },
    { data: '{}', channel: uniq('x') },
    { name: 'e', data: '{}', channel: 'bad channel name' },
    { name: 'e', data: '{}', channel: uniq('x'), socket_id: 'not-a-socket' },
    { name: 'e', data: '{}', channel: uniq('x'), info: 'bogus' },
  ];
  for (const c of cases) {
    const res = await signedFetch('POST', '/events', { body: JSON.stringify(c) });
    assert.equal(res.status, 400, `${JSON.stringify(c)}: ${res.body}`);
    assertErrorBody(res.body, 400);
  }
});

test('names at the limits are accepted, past them refused', async () => {
  // Channel names with every allowed character, and the longest allowed.
  const chars = uniq('ok_-=@,.;');
  let res = await sdk.trigger(chars, 'e', {});
  assert.equal(res.status, 200);
  const long = 'l'.repeat(200);
  res = await sdk.trigger(long, 'e', {});
  assert.equal(res.status, 200);
  // The event name limit (200).
  res = await sdk.trigger(uniq('ev'), 'e'.repeat(200), {});
  assert.equal(res.status, 200);
  const tooLong = await signedFetch('POST', '/events', { body: JSON.stringify({ name: 'e'.repeat(201), data: '{}', channel: uniq('ev') }) });
  assert.equal(tooLong.status, 400, tooLong.body);
  assertErrorBody(tooLong.body, 400);
});
