// examples/embedded, the Go program that embeds Herald, driven by
// pusher-js as a browser would drive it: its ticker actor, its chat bot in
// the presence lobby and its Go authorizer (at /auth, which lets in whoever
// sends X-User). Run by e2e/embedded_test.go against the built example; the
// WebSocket and the auth endpoint are on the program's own mux, so the
// HERALD_WS_* and HERALD_API_* variables name the same address.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, clientsFor, once, record, subscribe, subscribeRefused, waitFor } from '../helpers.mjs';

const base = `http://${cfg.apiHost}:${cfg.apiPort}`;

/** pusher-js options that authorize through the example's /auth as user. */
function as(user) {
  const headers = user ? { 'X-User': user } : {};
  return { client: { channelAuthorization: { endpoint: `${base}/auth`, transport: 'ajax', headers } } };
}

test('the ticker actor publishes the time on ticks every second', async (t) => {
  const client = await clientsFor(t).connect();
  const { channel } = await subscribe(client, 'ticks');
  const { data } = await once(channel, 'tick', 5000);
  assert.match(data.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test('the chat bot is a member of the lobby and answers client events', async (t) => {
  const clients = clientsFor(t);
  const ann = await clients.connect(as('ann'));
  const { channel } = await subscribe(ann, 'presence-lobby');
  assert.equal(channel.members.me.id, 'ann');
  assert.deepEqual(channel.members.me.info, { name: 'ann' }, 'the Go authorizer gave the member info');
  await waitFor(() => channel.members.get('bot'), undefined, 'the bot in the member list');
  assert.deepEqual(channel.members.get('bot').info, { name: 'Bot' });

  const bob = await clients.connect(as('bob'));
  const lobby = await subscribe(bob, 'presence-lobby');
  const seen = record(lobby.channel);
  const answer = once(channel, 'message');
  assert.ok(channel.trigger('client-message', { text: 'hi' }), 'pusher-js sent the client event');
  const { data } = await answer;
  assert.deepEqual(data, { from: 'bot', text: 'hello ann' });
  // Everyone in the lobby sees the question and the bot's answer.
  assert.deepEqual((await seen.waitFor('client-message')).data, { text: 'hi' });
  assert.deepEqual((await seen.waitFor('message')).data, { from: 'bot', text: 'hello ann' });
});

test('the Go authorizer refuses a subscription: pusher-js reports subscription_error', async (t) => {
  const client = await clientsFor(t).connect(as(null));
  const { data } = await subscribeRefused(client, 'presence-lobby');
  assert.equal(data.type, 'AuthError');
  assert.equal(data.status, 403);
});
