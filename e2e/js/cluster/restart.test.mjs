// A rolling restart of the three nodes behind haproxy, with real pusher-js
// clients: e2e/cluster_test.go serves HERALD_CONTROL_URL, whose
// POST /restart/{i} stops node i with SIGTERM (its clients get 4200 and
// pusher-js reconnects through haproxy) and starts it again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientsFor, sdk, subscribe, uniq, waitFor } from '../helpers.mjs';

const control = process.env.HERALD_CONTROL_URL;

test('a rolling restart of every node is invisible to presence', { timeout: 120000 }, async (t) => {
  assert.ok(control, 'HERALD_CONTROL_URL is set by e2e/cluster_test.go');
  const clients = clientsFor(t);
  const name = uniq('presence-rolling');
  const chans = [];
  const events = [];
  for (const id of ['p0', 'p1', 'p2', 'p3', 'p4', 'p5']) {
    const client = await clients.connect({ presence: { user_id: id, user_info: {} } });
    const { channel } = await subscribe(client, name);
    chans.push(channel);
  }
  await waitFor(() => chans.every((c) => c.members.count === 6), undefined, 'six members everywhere');
  chans.forEach((c, i) => {
    c.bind('pusher:member_added', (m) => events.push(`${i} added ${m.id}`));
    c.bind('pusher:member_removed', (m) => events.push(`${i} removed ${m.id}`));
  });
  const reconnects = () => clients.list.reduce((n, c) => n + c.states.filter((s) => s === 'connecting').length, 0);
  const before = reconnects();
  for (const i of [0, 1, 2]) {
    const res = await fetch(`${control}/restart/${i}`, { method: 'POST' });
    assert.equal(res.status, 200, `restart of node ${i}: ${await res.text()}`);
    await waitFor(() => clients.list.every((c) => c.connection.state === 'connected'), 15000, 'every client connected again');
    await waitFor(() => chans.every((c) => c.subscribed), 15000, 'every channel subscribed again');
  }
  await new Promise((resolve) => setTimeout(resolve, 6000)); // longer than the grace window
  assert.ok(reconnects() > before, 'some clients were on a restarted node and reconnected');
  assert.deepEqual(events, [], 'nobody was seen to leave or join');
  for (const c of chans) assert.equal(c.members.count, 6);
  const got = chans.map(() => 0);
  chans.forEach((c, i) => c.bind('after', () => got[i]++));
  await sdk.trigger(name, 'after', {});
  await waitFor(() => got.every((n) => n === 1), undefined, 'the event after the restarts everywhere');
});
