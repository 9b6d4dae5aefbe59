// The connection: handshake, refusal of an unknown app key, ping/pong,
// disconnect and connect again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientsFor, sdk, subscribe, record, uniq, waitFor, eventually, errorCode, once } from './helpers.mjs';

test('the handshake gives a socket id and pusher-js reaches connected', async (t) => {
  const clients = clientsFor(t);
  const client = clients.open();
  const { data } = await once(client.connection, 'connected');
  assert.match(data.socket_id, /^\d+\.\d+$/);
  assert.equal(client.connection.socket_id, data.socket_id);
  // new Pusher() starts connecting at once.
  assert.deepEqual(client.states, ['connecting', 'connected']);
  assert.deepEqual(client.errors, []);
  // min(pusher-js's 120 s, Herald's activity_timeout) — Herald announces 30 s by default.
  assert.ok(client.connection.activityTimeout > 0 && client.connection.activityTimeout <= 120000);
});

test('an unknown app key is refused with close code 4001 and pusher-js does not reconnect', async (t) => {
  const clients = clientsFor(t);
  const client = clients.open({ key: 'no-such-app-key' });
  await waitFor(() => client.errors.some((e) => errorCode(e) === 4001), undefined, 'an error with code 4001');
  // pusher-js treats 4000-4099 as "refused": it gives up. It reports that
  // as disconnected (ConnectionManager.refused → disconnect()); failed and
  // unavailable are the other terminal states.
  await waitFor(() => ['disconnected', 'failed', 'unavailable'].includes(client.connection.state), undefined,
    `a terminal state (now ${client.connection.state})`);
  assert.ok(!client.states.includes('connected'), `states: ${client.states}`);
  assert.equal(client.connection.socket_id, undefined);

  // No reconnection attempt: a client of a valid app connects and does a
  // full round trip meanwhile, and the refused one stays where it was.
  const terminal = client.connection.state;
  const states = client.states.length;
  const ok = await clients.connect();
  const name = uniq('after-refusal');
  const rec = record((await subscribe(ok, name)).channel);
  await sdk.trigger(name, 'e', {});
  await rec.waitFor('e');
  assert.equal(client.connection.state, terminal);
  assert.equal(client.states.length, states, `states after refusal: ${client.states.slice(states)}`);
});

test('pusher:ping is answered with pusher:pong', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  const pongs = [];
  client.connection.bind('message', (m) => {
    if (m.event === 'pusher:pong') pongs.push(m);
  });
  client.send_event('pusher:ping', {});
  await waitFor(() => pongs.length === 1, undefined, 'pusher:pong');
  assert.equal(client.connection.state, 'connected');
});

test('disconnect, then connect again: a new socket id, subscriptions restored', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  const first = client.connection.socket_id;
  const pub = uniq('reconnect');
  const priv = uniq('private-reconnect');
  const pres = uniq('presence-reconnect');
  const recPub = record((await subscribe(client, pub)).channel);
  const recPriv = record((await subscribe(client, priv)).channel);
  // presence needs user data: a second client for it.
  const member = await clients.connect({ presence: { user_id: 'reconnecting' } });
  const chPres = (await subscribe(member, pres)).channel;
  const recPres = record(chPres);

  client.disconnect();
  member.disconnect();
  await waitFor(() => client.connection.state === 'disconnected', undefined, 'disconnected');
  // Herald sees both sockets go: the channels are vacated.
  await eventually(async () => {
    for (const name of [pub, priv, pres]) {
      const res = await sdk.get({ path: `/channels/${name}` });
      assert.deepEqual(await res.json(), { occupied: false }, name);
    }
  });

  client.connect();
  member.connect();
  await waitFor(() => client.connection.state === 'connected' && member.connection.state === 'connected',
    undefined, 'connected again');
  assert.notEqual(client.connection.socket_id, first, 'a new socket id');
  // pusher-js resubscribes by itself; the channels' bindings are kept.
  await waitFor(() => client.channel(pub)?.subscribed && client.channel(priv)?.subscribed && chPres.subscribed,
    undefined, 'resubscribed');
  assert.equal(chPres.members.count, 1);
  assert.equal(chPres.members.me.id, 'reconnecting');

  await sdk.trigger([pub, priv, pres], 'back', { again: true });
  for (const rec of [recPub, recPriv, recPres]) {
    const e = await rec.waitFor('back');
    assert.deepEqual(e.data, { again: true });
  }
  const res = await sdk.get({ path: `/channels/${pres}/users` });
  assert.deepEqual(await res.json(), { users: [{ id: 'reconnecting' }] });
});
