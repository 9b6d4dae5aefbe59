// Public channels: events triggered by the server SDK, socket_id exclusion,
// unsubscribe and resubscribe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientsFor, sdk, subscribe, record, uniq, waitFor, eventually } from './helpers.mjs';

test('a client on user-1 receives a message triggered by the SDK with the exact data', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  const { channel } = await subscribe(client, 'user-1');

  const payload = {
    text: 'hello',
    n: 42,
    float: 1.5,
    ok: true,
    nothing: null,
    list: [1, 'two', { three: 3 }],
    nested: { a: { b: ['c'] } },
    unicode: 'héllo ✓ 日本 😀 "quoted" back\\slash\nnewline \u2028',
  };
  const got = [];
  channel.bind('message', (data) => got.push(data));

  const res = await sdk.trigger('user-1', 'message', payload);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {}, 'a trigger without info answers {}');

  await waitFor(() => got.length === 1, undefined, 'message on user-1');
  assert.deepEqual(got[0], payload);

  // A string is passed through as it is: pusher-js gets the same string.
  await sdk.trigger('user-1', 'message', 'plain text, not JSON');
  await waitFor(() => got.length === 2, undefined, 'second message on user-1');
  assert.equal(got[1], 'plain text, not JSON');
  assert.equal(got.length, 2, 'each trigger is delivered once');
});

test('one trigger to several channels reaches each channel once', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  const names = [uniq('multi-a'), uniq('multi-b'), uniq('multi-c')];
  const recs = [];
  for (const name of names) {
    const { channel } = await subscribe(client, name);
    recs.push(record(channel));
  }
  await sdk.trigger(names, 'fanout', { n: 1 });
  for (const r of recs) {
    const e = await r.waitFor('fanout');
    assert.deepEqual(e.data, { n: 1 });
  }
  // Barrier: a second event on every channel arrives after the first.
  await sdk.trigger(names, 'barrier', {});
  for (const r of recs) {
    await r.waitFor('barrier');
    assert.equal(r.named('fanout').length, 1);
  }
});

test('socket_id exclusion: the event reaches B but not A', async (t) => {
  const clients = clientsFor(t);
  const a = await clients.connect();
  const b = await clients.connect();
  assert.notEqual(a.connection.socket_id, b.connection.socket_id, 'socket ids are unique');
  const name = uniq('exclude');
  const recA = record((await subscribe(a, name)).channel);
  const recB = record((await subscribe(b, name)).channel);

  await sdk.trigger(name, 'news', { for: 'b' }, { socket_id: a.connection.socket_id });
  const e = await recB.waitFor('news');
  assert.deepEqual(e.data, { for: 'b' });

  // Barrier: the channel sends a later event to both; when A has it, A
  // would already have had the excluded one.
  await sdk.trigger(name, 'marker', {});
  await recA.waitFor('marker');
  await recB.waitFor('marker');
  assert.equal(recA.named('news').length, 0, 'the excluded socket got the event');
  assert.equal(recB.named('news').length, 1);

  // The same exclusion through a batch.
  await sdk.triggerBatch([{ channel: name, name: 'batched', data: { n: 1 }, socket_id: b.connection.socket_id }]);
  await recA.waitFor('batched');
  await sdk.trigger(name, 'marker2', {});
  await recB.waitFor('marker2');
  assert.equal(recB.named('batched').length, 0, 'the excluded socket got the batched event');
});

test('unsubscribe stops delivery, resubscribe restores it', async (t) => {
  const clients = clientsFor(t);
  const a = await clients.connect();
  const b = await clients.connect();
  const name = uniq('resub');
  const first = await subscribe(a, name);
  const recA1 = record(first.channel);
  const recB = record((await subscribe(b, name)).channel);

  await sdk.trigger(name, 'one', { n: 1 });
  await recA1.waitFor('one');
  await recB.waitFor('one');

  a.unsubscribe(name);
  assert.equal(a.channel(name), undefined, 'pusher-js forgot the channel');
  // Herald has handled the unsubscribe once only B is counted.
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, subscription_count: 1 });
  });

  await sdk.trigger(name, 'two', { n: 2 });
  await recB.waitFor('two');
  // Barrier on A: a channel A is still on.
  const other = uniq('resub-barrier');
  const recOther = record((await subscribe(a, other)).channel);
  await sdk.trigger(other, 'marker', {});
  await recOther.waitFor('marker');
  assert.equal(recA1.named('two').length, 0, 'an unsubscribed client got an event');

  const second = await subscribe(a, name);
  assert.notEqual(second.channel, first.channel, 'a new channel object after resubscribing');
  const recA2 = record(second.channel);
  await sdk.trigger(name, 'three', { n: 3 });
  const e = await recA2.waitFor('three');
  assert.deepEqual(e.data, { n: 3 });
  await recB.waitFor('three');
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, subscription_count: 2 });
  });
});

test('subscribing twice to one channel is delivered once', async (t) => {
  const clients = clientsFor(t);
  const a = await clients.connect();
  const name = uniq('twice');
  const { channel } = await subscribe(a, name);
  const rec = record(channel);
  // pusher-js does not send a second pusher:subscribe for a channel it is
  // on, so send the raw frame: Herald must treat it as a no-op.
  a.send_event('pusher:subscribe', { channel: name });
  await sdk.trigger(name, 'once', {});
  await rec.waitFor('once');
  await sdk.trigger(name, 'marker', {});
  await rec.waitFor('marker');
  assert.equal(rec.named('once').length, 1);
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, subscription_count: 1 });
  });
});
