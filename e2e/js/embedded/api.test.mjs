// Herald's embedding API (package herald) seen from pusher-js: events
// published by a Go method call and by a message to Herald's PID, the
// in-process authorizer granting and refusing (as pusher-js's
// channelAuthorization and userAuthentication endpoint), and a server-side
// subscriber actor that echoes client events. Run by e2e/embedded_test.go,
// whose broker mounts POST /test/publish {via, channel, event, data}
// (via: "method" or "message") and authorizes whoever sends X-User, but
// private-admin- channels, which only X-User: root may join.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, clientsFor, once, record, subscribe, subscribeRefused, uniq, waitFor } from '../helpers.mjs';

const base = `http://${cfg.apiHost}:${cfg.apiPort}`;

/** Asks the Go test to publish, by method or by message. */
async function publish(via, channel, event, data) {
  const res = await fetch(`${base}/test/publish`, {
    method: 'POST',
    body: JSON.stringify({ via, channel, event, data: JSON.stringify(data) }),
  });
  assert.equal(res.status, 200, `publish by ${via}: ${await res.text()}`);
}

/** pusher-js options that authorize and sign in through /auth/{key} as user. */
function as(user) {
  const headers = user ? { 'X-User': user } : {};
  const endpoint = `${base}/auth/${cfg.key}`;
  return {
    client: {
      channelAuthorization: { endpoint, transport: 'ajax', headers },
      userAuthentication: { endpoint, transport: 'ajax', headers },
    },
  };
}

test('Publish by method and by message reach pusher-js subscribers', async (t) => {
  const client = await clientsFor(t).connect();
  const name = uniq('embedded');
  const { channel } = await subscribe(client, name);
  const rec = record(channel);
  for (const via of ['method', 'message']) {
    await publish(via, name, `by-${via}`, { via });
    assert.deepEqual((await rec.waitFor(`by-${via}`)).data, { via });
  }
});

test('the in-process authorizer grants private and presence channels', async (t) => {
  const client = await clientsFor(t).connect(as('ann'));
  await subscribe(client, uniq('private-room'));
  const { channel } = await subscribe(client, uniq('presence-room'));
  assert.equal(channel.members.me.id, 'ann');
  assert.deepEqual(channel.members.me.info, { name: 'ANN' });
});

test('the in-process authorizer refuses: pusher-js reports subscription_error 403', async (t) => {
  const clients = clientsFor(t);
  const anonymous = await clients.connect(as(null));
  const refused = await subscribeRefused(anonymous, uniq('private-room'));
  assert.equal(refused.data.type, 'AuthError');
  assert.equal(refused.data.status, 403);

  const ann = await clients.connect(as('ann'));
  const admin = await subscribeRefused(ann, uniq('private-admin'));
  assert.equal(admin.data.status, 403);
  const root = await clients.connect(as('root'));
  await subscribe(root, uniq('private-admin'));
});

test('a sign-in through the authorizer, then Publish to #server-to-user-{id}', async (t) => {
  const client = await clientsFor(t).connect(as('ann'));
  client.signin();
  await waitFor(() => client.user.serverToUserChannel?.subscribed, undefined, 'the signed-in user channel');
  assert.equal(client.user.user_data.id, 'ann');
  const notice = once(client.user, 'notice');
  await publish('method', '#server-to-user-ann', 'notice', { n: 1 });
  assert.deepEqual((await notice).data, { n: 1 });
});

test('a server-side subscriber actor gets client events and answers them', async (t) => {
  const client = await clientsFor(t).connect(as('ann'));
  const { channel } = await subscribe(client, 'private-echo');
  const echo = once(channel, 'echo');
  channel.trigger('client-say', { text: 'ping' });
  assert.deepEqual((await echo).data, { event: 'client-say', data: '{"text":"ping"}' });
});
