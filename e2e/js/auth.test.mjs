// Private and presence channels: authorization signed by the server SDK,
// refused signatures, and presence membership.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, clientsFor, sdk, serverSdk, subscribe, subscribeRefused, record, uniq, waitFor, eventually } from './helpers.mjs';

test('private channel: subscription with authorizeChannel succeeds and receives events', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  const name = uniq('private-auth');
  const { channel } = await subscribe(client, name);
  assert.equal(channel.subscribed, true);
  const rec = record(channel);
  await sdk.trigger(name, 'secret', { s: 'x' });
  const e = await rec.waitFor('secret');
  assert.deepEqual(e.data, { s: 'x' });
});

test('presence channel: members, member_added and member_removed once per user', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('presence-members');
  const alice = { user_id: 'alice', user_info: { name: 'Alice', n: 1 } };
  const bob = { user_id: 'bob', user_info: { name: 'Bob' } };

  const a = await clients.connect({ presence: alice });
  const sa = await subscribe(a, name);
  const chA = sa.channel;
  assert.equal(chA.members.count, 1);
  assert.equal(chA.members.me.id, 'alice');
  assert.deepEqual(chA.members.me.info, alice.user_info);

  const added = [];
  const removed = [];
  chA.bind('pusher:member_added', (m) => added.push(m));
  chA.bind('pusher:member_removed', (m) => removed.push(m));
  const recA = record(chA);

  // Bob joins on two connections: one member_added, for the first.
  const b1 = await clients.connect({ presence: bob });
  const sb1 = await subscribe(b1, name);
  assert.equal(sb1.channel.members.count, 2);
  assert.equal(sb1.channel.members.me.id, 'bob');
  await waitFor(() => added.length === 1, undefined, 'member_added for bob');
  assert.equal(added[0].id, 'bob');
  assert.deepEqual(added[0].info, bob.user_info);

  const b2 = await clients.connect({ presence: bob });
  const sb2 = await subscribe(b2, name);
  assert.equal(sb2.channel.members.count, 2, 'the second connection of bob sees two members');
  const ids = [];
  sb2.channel.members.each((m) => ids.push(m.id));
  assert.deepEqual(ids.sort(), ['alice', 'bob']);
  assert.deepEqual(sb2.channel.members.get('alice').info, alice.user_info);

  // Barrier: any second member_added was sent to A before this event.
  await sdk.trigger(name, 'marker-1', {});
  await recA.waitFor('marker-1');
  assert.equal(added.length, 1, 'two connections of one user gave more than one member_added');
  assert.equal(chA.members.count, 2);
  const membersA = [];
  chA.members.each((m) => membersA.push(m.id));
  assert.deepEqual(membersA.sort(), ['alice', 'bob']);

  // The API agrees: 2 users, 3 subscriptions.
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'user_count,subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, user_count: 2, subscription_count: 3 });
  });

  // Bob's first connection leaves: bob is still present.
  b1.disconnect();
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } });
    assert.deepEqual(await res.json(), { occupied: true, subscription_count: 2 });
  });
  await sdk.trigger(name, 'marker-2', {});
  await recA.waitFor('marker-2');
  assert.equal(removed.length, 0, 'member_removed while bob still had a connection');
  assert.equal(chA.members.count, 2);

  // Bob's last connection leaves: one member_removed.
  b2.unsubscribe(name);
  await waitFor(() => removed.length === 1, undefined, 'member_removed for bob');
  assert.equal(removed[0].id, 'bob');
  await sdk.trigger(name, 'marker-3', {});
  await recA.waitFor('marker-3');
  assert.equal(removed.length, 1);
  assert.equal(chA.members.count, 1);
  assert.equal(chA.members.get('bob'), null);
  const res = await sdk.get({ path: `/channels/${name}/users` });
  assert.deepEqual(await res.json(), { users: [{ id: 'alice' }] });
});

test('a bad signature gives pusher:subscription_error; the connection and its other channels keep working', async (t) => {
  const clients = clientsFor(t);
  const good = uniq('sub-ok');
  const goodPrivate = uniq('private-after-error');
  const bad = uniq('private-bad');
  const badPresence = uniq('presence-bad');
  const client = await clients.connect({
    authorize: (socketId, channel) => {
      if (channel === bad) {
        // Signed with another secret.
        return { auth: `${cfg.key}:${'0'.repeat(64)}` };
      }
      if (channel === badPresence) {
        // Signed for one channel_data, sent with another.
        const auth = sdk.authorizeChannel(socketId, channel, { user_id: 'u1' });
        return { ...auth, channel_data: JSON.stringify({ user_id: 'admin' }) };
      }
      return sdk.authorizeChannel(socketId, channel, channel.startsWith('presence-') ? { user_id: 'u1' } : undefined);
    },
  });
  const socketID = client.connection.socket_id;
  const recGood = record((await subscribe(client, good)).channel);

  const refused = await subscribeRefused(client, bad);
  assert.equal(refused.data.type, 'AuthError');
  assert.equal(refused.data.status, 401);
  assert.equal(typeof refused.data.error, 'string');
  assert.ok(refused.data.error.length > 0);
  assert.ok(!refused.data.error.includes(sdk.authorizeChannel(socketID, bad).auth.split(':')[1]),
    'the error must not reveal the expected signature');
  assert.equal(refused.channel.subscribed, false);

  const refusedPresence = await subscribeRefused(client, badPresence);
  assert.equal(refusedPresence.data.type, 'AuthError');
  assert.equal(refusedPresence.data.status, 401);

  assert.equal(client.connection.state, 'connected');
  assert.equal(client.connection.socket_id, socketID, 'the connection was not replaced');
  assert.deepEqual(client.errors, [], 'no connection-level error');

  // The channel subscribed before still receives.
  await sdk.trigger(good, 'still', { ok: true });
  const e = await recGood.waitFor('still');
  assert.deepEqual(e.data, { ok: true });

  // A new, correctly signed subscription still succeeds.
  const recPrivate = record((await subscribe(client, goodPrivate)).channel);
  await sdk.trigger(goodPrivate, 'after', { ok: 1 });
  await recPrivate.waitFor('after');

  // The refused channel has no subscriber.
  const res = await sdk.get({ path: `/channels/${bad}` });
  assert.deepEqual(await res.json(), { occupied: false });
});

test('a signature for another socket is refused', async (t) => {
  const clients = clientsFor(t);
  const other = await clients.connect();
  const name = uniq('private-stolen');
  const client = await clients.connect({
    // A signature valid for the other socket id.
    authorize: (_socketId, channel) => sdk.authorizeChannel(other.connection.socket_id, channel),
  });
  const refused = await subscribeRefused(client, name);
  assert.equal(refused.data.status, 401);
  assert.equal(client.connection.state, 'connected');
});

test('presence: a numeric user_id is accepted and listed as a string', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('presence-numeric');
  const a = await clients.connect({ presence: { user_id: 7, user_info: { n: 7 } } });
  const b = await clients.connect({ presence: { user_id: 'eight' } });
  const chA = (await subscribe(a, name)).channel;
  const added = [];
  chA.bind('pusher:member_added', (m) => added.push(m));
  const chB = (await subscribe(b, name)).channel;
  assert.equal(chB.members.count, 2);
  assert.deepEqual(chB.members.get('7').info, { n: 7 });
  await waitFor(() => added.length === 1, undefined, 'member_added');
  assert.equal(added[0].id, 'eight');
  const res = await sdk.get({ path: `/channels/${name}/users` });
  assert.deepEqual((await res.json()).users.map((u) => u.id).sort(), ['7', 'eight']);
});

test('private-encrypted channel: the SDK encrypts, Herald relays, pusher-js decrypts; client events refused', async (t) => {
  const clients = clientsFor(t);
  const encSdk = serverSdk({ encryptionMasterKeyBase64: Buffer.alloc(32, 7).toString('base64') });
  const name = uniq('private-encrypted-room');
  const a = await clients.connect({ sdk: encSdk });
  const b = await clients.connect({ sdk: encSdk });
  const chA = (await subscribe(a, name)).channel;
  const recA = record(chA);
  const recB = record((await subscribe(b, name)).channel);

  const payload = { secret: 'sealed', n: [1, 2, 3] };
  const res = await encSdk.trigger(name, 'sealed', payload);
  assert.equal(res.status, 200);
  const e = await recA.waitFor('sealed');
  assert.deepEqual(e.data, payload, 'pusher-js decrypted the event');
  await recB.waitFor('sealed');

  // pusher-js refuses client events on encrypted channels itself ...
  assert.throws(() => chA.trigger('client-x', {}));
  // ... and so does Herald when the frame is sent anyway.
  a.send_event('client-x', { nonce: 'AAAA', ciphertext: 'AAAA' }, name);
  await waitFor(() => a.errors.some((err) => err?.data?.code === 4301), undefined, 'pusher:error 4301');
  await encSdk.trigger(name, 'marker', {});
  await recB.waitFor('marker');
  assert.equal(recB.named('client-x').length, 0, 'a client event on an encrypted channel was delivered');
  assert.equal(a.connection.state, 'connected');
});
