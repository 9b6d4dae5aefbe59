// The README's "Pointing clients at Herald" snippets run as pasted against
// a broker on the dev defaults: the pusher-js subscriber (as a Node script,
// after the require the README names) receives the event the Node `pusher`
// SDK snippet triggers (as `node send.js`). Only the ports change, from the
// defaults 3131/3232 to the test broker's. Run by e2e/readme_test.go.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cfg, sdk, waitFor } from '../helpers.mjs';
import { blocksAfter, replaceOnce, runScript } from './readme.mjs';

const WAIT = 20000;

test('the pusher-js snippet receives what the Node SDK snippet sends', async (t) => {
  const [client] = blocksAfter('**pusher-js**', 'js');
  const [send] = blocksAfter('**Node `pusher` SDK**', 'js');

  const subscriber = runScript(
    "const Pusher = require('pusher-js');\n" +
      replaceOnce(client, 'wsPort: 3131', `wsPort: ${cfg.wsPort}`),
  );
  t.after(() => subscriber.stop());
  // Subscribed once the broker counts the channel occupied.
  await waitFor(async () => {
    const res = await sdk.get({ path: '/channels/user-1' });
    return (await res.json()).occupied;
  }, WAIT, `the pusher-js snippet's subscription to user-1 (its output: ${subscriber.output()})`);

  const sender = runScript(replaceOnce(send, "port: '3232'", `port: '${cfg.apiPort}'`));
  t.after(() => sender.stop());
  const { code } = await sender.exited;
  assert.equal(code, 0, `node send.js exits 0; its output:\n${sender.output()}`);
  assert.match(sender.output(), /^sent$/m);

  await waitFor(() => subscriber.output().includes("{ text: 'hello' }"), WAIT,
    `the pusher-js snippet to log the event (its output: ${subscriber.output()})`);
});
