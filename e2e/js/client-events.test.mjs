// Client events (client-*): relayed to the other subscribers of private and
// presence channels, never echoed, refused elsewhere with pusher:error 4301.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, clientsFor, sdk, serverSdk, subscribe, record, uniq, waitFor, errorCode } from './helpers.mjs';

/** pusher:error frames with code on client's connection. */
const errorsWithCode = (client, code) => client.errors.filter((e) => errorCode(e) === code);

test('private channel: B receives A\'s client event, A does not get it back', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('private-typing');
  const a = await clients.connect();
  const b = await clients.connect();
  const chA = (await subscribe(a, name)).channel;
  const chB = (await subscribe(b, name)).channel;
  const recA = record(chA);
  const recB = record(chB);

  const payload = { typing: true, who: 'A', text: 'héllo ✓' };
  assert.equal(chA.trigger('client-typing', payload), true);
  const e = await recB.waitFor('client-typing');
  assert.deepEqual(e.data, payload);

  // Barrier: a server event on the same channel reaches A after any echo.
  await sdk.trigger(name, 'marker', {});
  await recA.waitFor('marker');
  await recB.waitFor('marker');
  assert.equal(recA.named('client-typing').length, 0, 'the sender received its own client event');
  assert.equal(recB.named('client-typing').length, 1);
  assert.deepEqual(a.errors, [], 'no pusher:error for an accepted client event');
});

test('presence channel: the client event carries the sender\'s user_id', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('presence-typing');
  const a = await clients.connect({ presence: { user_id: 'user-a', user_info: { name: 'A' } } });
  const b = await clients.connect({ presence: { user_id: 'user-b' } });
  const chA = (await subscribe(a, name)).channel;
  const chB = (await subscribe(b, name)).channel;
  const recA = record(chA);

  const got = [];
  chB.bind('client-typing', (data, metadata) => got.push({ data, metadata }));
  chA.trigger('client-typing', { typing: true });
  await waitFor(() => got.length === 1, undefined, 'client-typing on B');
  assert.deepEqual(got[0].data, { typing: true });
  assert.equal(got[0].metadata?.user_id, 'user-a');

  // B answers; A gets B's user_id, and B not its own event.
  const gotA = [];
  chA.bind('client-reply', (data, metadata) => gotA.push({ data, metadata }));
  const recB = record(chB);
  chB.trigger('client-reply', 'ok');
  await waitFor(() => gotA.length === 1, undefined, 'client-reply on A');
  assert.equal(gotA[0].data, 'ok');
  assert.equal(gotA[0].metadata?.user_id, 'user-b');
  await sdk.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  await recA.waitFor('marker');
  assert.equal(recB.named('client-reply').length, 0, 'the sender received its own client event');
  assert.equal(recA.named('client-typing').length, 0, 'the sender received its own client event');
});

test('public channel: a client event is refused with pusher:error 4301 and not delivered', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('public-typing');
  const a = await clients.connect();
  const b = await clients.connect();
  const chA = (await subscribe(a, name)).channel;
  const recB = record((await subscribe(b, name)).channel);
  const socketID = a.connection.socket_id;

  chA.trigger('client-typing', { typing: true });
  await waitFor(() => errorsWithCode(a, 4301).length === 1, undefined, 'pusher:error 4301 on A');
  const err = errorsWithCode(a, 4301)[0];
  assert.equal(err.type, 'PusherError');
  assert.equal(typeof err.data.message, 'string');

  // The connection stays open: same socket, still subscribed.
  assert.equal(a.connection.state, 'connected');
  assert.equal(a.connection.socket_id, socketID);

  // Barrier: A's event was refused before its pusher:error was sent, so it
  // never reached the channel; a server event on it reaches B.
  await sdk.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  assert.equal(recB.named('client-typing').length, 0, 'a client event on a public channel was delivered');
  const recA = record(chA);
  await sdk.trigger(name, 'marker-2', {});
  await recA.waitFor('marker-2');
});

test('a client event on a channel the sender is not subscribed to is refused', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('private-notsub');
  const a = await clients.connect();
  const b = await clients.connect();
  const recB = record((await subscribe(b, name)).channel);
  // pusher-js only triggers on channels it has: send the raw frame.
  a.send_event('client-sneak', { x: 1 }, name);
  await waitFor(() => errorsWithCode(a, 4301).length === 1, undefined, 'pusher:error 4301');
  await sdk.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  assert.equal(recB.named('client-sneak').length, 0);
  assert.equal(a.connection.state, 'connected');
});

test('client events of an app with client events off are refused with 4301', { skip: !cfg.app2 && 'HERALD_APP2_* not set' }, async (t) => {
  const clients = clientsFor(t);
  const sdk2 = serverSdk(cfg.app2 || {});
  const name = uniq('private-noce');
  const a = await clients.connect({ key: cfg.app2?.key, sdk: sdk2 });
  const b = await clients.connect({ key: cfg.app2?.key, sdk: sdk2 });
  const chA = (await subscribe(a, name)).channel;
  const recB = record((await subscribe(b, name)).channel);

  chA.trigger('client-typing', { typing: true });
  await waitFor(() => errorsWithCode(a, 4301).length === 1, undefined, 'pusher:error 4301');
  await sdk2.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  assert.equal(recB.named('client-typing').length, 0);
  assert.equal(a.connection.state, 'connected');
});

test('client events over the rate limit (10/s) are refused with 4301; the connection stays', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('private-rate');
  const a = await clients.connect();
  const b = await clients.connect();
  const chA = (await subscribe(a, name)).channel;
  const recB = record((await subscribe(b, name)).channel);

  const sent = 30;
  for (let i = 0; i < sent; i++) chA.trigger('client-burst', { i });
  await waitFor(() => errorsWithCode(a, 4301).length > 0, undefined, 'a rate-limit pusher:error');
  await sdk.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  const delivered = recB.named('client-burst').length;
  const refused = errorsWithCode(a, 4301).length;
  assert.ok(delivered >= 10, `at least the first 10 client events are delivered (got ${delivered})`);
  assert.ok(delivered < sent, `not all ${sent} client events sent at once are delivered (got ${delivered})`);
  await waitFor(() => errorsWithCode(a, 4301).length === sent - delivered, undefined,
    `one 4301 per refused event (${sent - delivered}, have ${refused})`);
  const order = recB.named('client-burst').map((e) => e.data.i);
  assert.deepEqual(order.slice(0, 10), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the first 10 (the burst) are accepted, in order');
  assert.deepEqual(order, [...order].sort((x, y) => x - y), 'accepted events keep their order');
  assert.equal(a.connection.state, 'connected');
});
