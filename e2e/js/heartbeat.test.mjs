// Heartbeat: pusher:ping / pusher:pong in both directions keep an idle
// connection up. It needs a broker with a short activity_timeout:
// e2e/js_test.go runs this file alone against one with 1 s
// (TestPusherJSHeartbeat); against a broker with the default 30 s it skips.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientsFor, sdk, subscribe, record, uniq, waitFor } from './helpers.mjs';

test('heartbeat: an idle connection is pinged, answers, and stays up', async (t) => {
  const clients = clientsFor(t);
  const client = await clients.connect();
  // pusher-js uses min(its own 120 s, the server's activity_timeout).
  const activity = client.connection.activityTimeout;
  if (activity > 5000) {
    t.skip(`the broker announces activity_timeout ${activity / 1000} s; this test needs 5 s or less`);
    return;
  }
  const socketID = client.connection.socket_id;
  const name = uniq('heartbeat');
  const rec = record((await subscribe(client, name)).channel);

  // Idle: the server pings and pusher-js answers pusher:pong, or pusher-js
  // pings and Herald answers pusher:pong. Wait for several rounds.
  const beats = [];
  client.connection.bind('message', (m) => {
    if (m.event === 'pusher:ping' || m.event === 'pusher:pong') beats.push(m.event);
  });
  const rounds = 4;
  await waitFor(() => beats.length >= rounds, rounds * (activity + 2000), `${rounds} heartbeats (have ${beats})`);
  assert.equal(client.connection.state, 'connected');
  assert.equal(client.connection.socket_id, socketID, 'the connection was not replaced');
  assert.deepEqual(client.errors, []);
  assert.deepEqual(client.states, ['connecting', 'connected'], 'no state change after connecting');

  await sdk.trigger(name, 'alive', { ok: true });
  const e = await rec.waitFor('alive');
  assert.deepEqual(e.data, { ok: true });
});
