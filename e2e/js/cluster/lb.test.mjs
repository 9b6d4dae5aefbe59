// The cluster through a load balancer, with real pusher-js clients and the
// official server SDK: e2e/cluster_test.go starts etcd, three herald nodes
// and haproxy, and points HERALD_WS_* and HERALD_API_* at haproxy, so the
// clients spread over the nodes and every SDK call may land on any node.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clientsFor, sdk, subscribe, uniq, waitFor, eventually } from '../helpers.mjs';

test('a trigger through any node reaches every subscriber on every node once, in order', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('cluster-news');
  const got = [];
  for (let i = 0; i < 4; i++) {
    const client = await clients.connect();
    const { channel } = await subscribe(client, name);
    const mine = [];
    channel.bind('item', (d) => mine.push(d.n));
    got.push(mine);
  }
  for (let n = 0; n < 10; n++) {
    const res = await sdk.trigger(name, 'item', { n });
    assert.equal(res.status, 200);
  }
  await waitFor(() => got.every((g) => g.length >= 10), undefined, 'ten events at every client');
  for (const g of got) assert.deepEqual(g, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

  // batch_events too, excluding a socket on whatever node it is.
  const excluded = clients.list[1].connection.socket_id;
  const res = await sdk.triggerBatch([
    { channel: name, name: 'item', data: { n: 10 } },
    { channel: name, name: 'item', data: { n: 11 }, socket_id: excluded },
  ]);
  assert.equal(res.status, 200);
  await waitFor(() => got[0].length === 12 && got[2].length === 12 && got[3].length === 12, undefined, 'the batch');
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(got[1].slice(10), [10], 'the excluded socket got only the first');
});

test('presence is one member list across the nodes, and client events cross them', async (t) => {
  const clients = clientsFor(t);
  const name = uniq('presence-cluster');
  const chans = [];
  for (const id of ['ann', 'bob', 'cy']) {
    const client = await clients.connect({ presence: { user_id: id, user_info: { name: id } } });
    const { channel } = await subscribe(client, name);
    chans.push(channel);
  }
  await waitFor(() => chans.every((c) => c.members.count === 3), undefined, 'three members everywhere');
  await eventually(async () => {
    const res = await sdk.get({ path: `/channels/${name}`, params: { info: 'user_count' } });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).user_count, 3);
  });
  const heard = [[], [], []];
  chans.forEach((c, i) => c.bind('client-hello', (d, meta) => heard[i].push(meta?.user_id ?? d.from)));
  chans[0].trigger('client-hello', { from: 'ann' });
  await waitFor(() => heard[1].length === 1 && heard[2].length === 1, undefined, 'the client event on the other nodes');
  assert.equal(heard[0].length, 0, 'never echoed to the sender');
  assert.equal(heard[1][0], 'ann');
});
