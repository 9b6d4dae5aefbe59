// Unit tests of the client builds with fake timers, sockets and XHR.
// Run: node --test web/test/
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { load, makeUni } from './harness.mjs';

// same compares by value: objects made inside the VM context have other
// prototypes than the test's, which deepStrictEqual would reject.
function same(actual, expected, msg) {
  assert.deepEqual(actual === undefined ? undefined : JSON.parse(JSON.stringify(actual)), expected, msg);
}

const opts = { url: 'ws://127.0.0.1:3131', app_key: 'app-key', auth: '/plugin/webman/push/auth' };

function states(push) {
  const seen = [];
  push.connection.on('state_change', (s) => seen.push(`${s.previous}>${s.current}`));
  return seen;
}

function lastFrame(ws) {
  const f = ws.frames();
  return f[f.length - 1];
}

// The browser global and the Vue ES module share one source; run the whole
// suite against both, since webman's Vue build differed (issue #17).
for (const file of ['push.js', 'push-vue.js']) {
  describe(file, () => {
    test('connects to /app/<key> and walks initialized > connecting > connected', () => {
      const { Push, sockets } = load(file);
      const P = Push;
      let seen;
      const push = new P({ ...opts, url: 'ws://127.0.0.1:3131/' });
      seen = states(push);
      assert.equal(sockets.length, 1);
      assert.match(sockets[0].url, /^ws:\/\/127\.0\.0\.1:3131\/app\/app-key\?protocol=7&/);
      assert.equal(push.connection.state, 'connecting');
      const events = [];
      push.connection.on('connected', () => events.push('connected'));
      sockets[0].establish('12.34');
      same(seen, ['connecting>connected']);
      same(events, ['connected']);
      assert.equal(push.connection.socket_id, '12.34');
      assert.equal(Push.instances.length, 1);
    });

    test('state_change fires on every later transition too', () => {
      const { Push, sockets } = load(file);
      // Push connects in its constructor (as webman's does), so
      // initialized > connecting has happened before any handler is bound.
      const push = new Push(opts);
      assert.equal(push.connection.state, 'connecting');
      const seen = states(push);
      sockets[0].establish();
      sockets[0].serverClose(1006);
      same(seen, ['connecting>connected', 'connected>disconnected', 'disconnected>connecting']);
    });

    test('reconnect schedule is 1 ms, 1 s, 2 s, 2 s while online, doubling offline', () => {
      const { Push, sockets, clock, navigator } = load(file);
      const push = new Push(opts);
      sockets[0].establish();
      sockets[0].serverClose(1006);
      assert.equal(push.connection.state, 'connecting');
      const gaps = [];
      for (let i = 0; i < 5; i++) {
        const [delay] = clock.delays();
        gaps.push(delay);
        clock.tick(delay);
        assert.equal(sockets.length, i + 2, 'a new socket after each delay');
        sockets[sockets.length - 1].fail();
      }
      same(gaps, [1, 1000, 2000, 2000, 2000]);
      navigator.onLine = false;
      const offline = [];
      for (let i = 0; i < 3; i++) {
        const [delay] = clock.delays();
        offline.push(delay);
        clock.tick(delay);
        sockets[sockets.length - 1].fail();
      }
      // the delay already armed was capped while online; then it doubles
      same(offline, [2000, 2000, 4000]);
      // A successful handshake resets the schedule.
      navigator.onLine = true;
      clock.tick(clock.delays()[0]);
      sockets[sockets.length - 1].establish('2.2');
      sockets[sockets.length - 1].serverClose(1006);
      same(clock.delays(), [1]);
    });

    test('heartbeat pings every 25 s after each pong; no answer in 10 s reconnects', () => {
      const { Push, sockets, clock } = load(file);
      const push = new Push(opts);
      const ws = sockets[0];
      ws.establish('1.1', 120);
      clock.tick(24999);
      assert.equal(ws.sent.length, 0);
      clock.tick(1);
      assert.equal(ws.sent[0], '{"event":"pusher:ping","data":{}}');
      clock.tick(300);
      ws.receive({ event: 'pusher:pong', data: '{}' });
      clock.tick(24999);
      assert.equal(ws.sent.length, 1, 'next ping 25 s after the pong');
      clock.tick(1);
      assert.equal(ws.sent.length, 2);
      // Other traffic answers a pending ping too and does not delay the next.
      ws.receive({ event: 'x', channel: 'none', data: '{}' });
      clock.tick(10000);
      assert.equal(ws.closed, false);
      clock.tick(15000);
      assert.equal(ws.sent.length, 3);
      const seen = states(push);
      clock.tick(9999);
      assert.equal(ws.closed, false);
      clock.tick(1);
      assert.equal(ws.closed, true, 'socket dropped after pingTimeout');
      same(seen, ['connected>disconnected', 'disconnected>connecting']);
      clock.tick(1);
      assert.equal(sockets.length, 2, 'reconnected after 1 ms');
    });

    test('custom heartbeat/pingTimeout, and the server activity_timeout when lower', () => {
      const { Push, sockets, clock } = load(file);
      new Push({ ...opts, heartbeat: 40000, pingTimeout: 3000 });
      sockets[0].establish('1.1', 30);
      clock.tick(29999);
      assert.equal(sockets[0].sent.length, 0);
      clock.tick(1);
      assert.equal(sockets[0].frames()[0].event, 'pusher:ping');
      clock.tick(3000);
      assert.equal(sockets[0].closed, true);
    });

    test('a socket that opens but never establishes is dropped and retried', () => {
      const { Push, sockets, clock } = load(file);
      const push = new Push(opts);
      sockets[0].open();
      clock.tick(25000);
      assert.equal(sockets[0].closed, true);
      assert.equal(push.connection.state, 'connecting');
      clock.tick(1);
      assert.equal(sockets.length, 2);
    });

    test('answers the server pusher:ping with pusher:pong', () => {
      const { Push, sockets } = load(file);
      new Push(opts);
      sockets[0].establish();
      sockets[0].receive({ event: 'pusher:ping', data: '{}' });
      same(lastFrame(sockets[0]), { event: 'pusher:pong', data: {} });
    });

    test('public subscribe waits for the connection, then events reach channel.on and bind', () => {
      const { Push, sockets } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('news');
      assert.equal(push.subscribe('news'), ch, 'subscribe returns the existing channel');
      assert.equal(sockets[0].sent.length, 0);
      sockets[0].establish();
      same(sockets[0].frames(), [{ event: 'pusher:subscribe', data: { channel: 'news' } }]);
      const got = [];
      ch.on('pusher:subscription_succeeded', () => got.push('ok'));
      ch.on('update', (d, meta) => got.push(['on', d, meta.channel]));
      const bound = (d) => got.push(['bind', d]);
      ch.bind('update', bound);
      push.bind('update', (d) => got.push(['global', d]));
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}' });
      assert.equal(ch.subscribed, true);
      sockets[0].receive({ event: 'update', channel: 'news', data: '{"n":1}' });
      ch.unbind('update', bound);
      sockets[0].receive({ event: 'update', channel: 'news', data: { n: 2 } });
      ch.off('update');
      sockets[0].receive({ event: 'update', channel: 'news', data: '"three"' });
      same(got, [
        'ok',
        ['on', { n: 1 }, 'news'], ['bind', { n: 1 }], ['global', { n: 1 }],
        ['on', { n: 2 }, 'news'], ['global', { n: 2 }],
        ['global', 'three'],
      ]);
    });

    test('on/off honour context, and a throwing handler does not stop the others', () => {
      const { Push, sockets, errors } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('c');
      sockets[0].establish();
      const ctxA = { name: 'a' };
      const ctxB = { name: 'b' };
      const got = [];
      function h() { got.push(this.name); }
      ch.on('e', () => { throw new Error('user bug'); });
      ch.on('e', h, ctxA);
      ch.on('e', h, ctxB);
      ch.off('e', null, ctxA);
      sockets[0].receive({ event: 'e', channel: 'c', data: '{}' });
      same(got, ['b']);
      assert.equal(errors.length, 1);
    });

    test('channel() and allChannels() work; unsubscribe and unsubscribeAll send frames', () => {
      const { Push, sockets } = load(file);
      const push = new Push(opts);
      const a = push.subscribe('a');
      const b = push.subscribe('b');
      assert.equal(push.channel('a'), a);
      assert.equal(push.channel('zzz'), undefined);
      assert.equal(push.allChannels().length, 2);
      assert.equal(push.allChannels()[0], a);
      assert.equal(push.allChannels()[1], b);
      sockets[0].establish();
      push.unsubscribe('a');
      same(lastFrame(sockets[0]), { event: 'pusher:unsubscribe', data: { channel: 'a' } });
      assert.equal(push.channel('a'), undefined);
      push.unsubscribeAll();
      same(lastFrame(sockets[0]), { event: 'pusher:unsubscribe', data: { channel: 'b' } });
      assert.equal(push.allChannels().length, 0);
      // Unsubscribing while disconnected sends nothing and does not throw.
      push.subscribe('c');
      sockets[0].serverClose(1006);
      push.unsubscribe('c');
      push.unsubscribe('never');
    });

    test('private channel: form-encoded auth POST with headers, then a signed subscribe', () => {
      const { Push, sockets, requests } = load(file);
      const push = new Push({ ...opts, headers: { 'X-CSRF-Token': 't' } });
      const ch = push.subscribe('private-room');
      assert.equal(requests.length, 0);
      sockets[0].establish('7.8');
      assert.equal(requests.length, 1);
      const r = requests[0];
      assert.equal(r.method, 'POST');
      assert.equal(r.url, '/plugin/webman/push/auth');
      assert.equal(r.headers['Content-Type'], 'application/x-www-form-urlencoded');
      assert.equal(r.headers['X-CSRF-Token'], 't');
      assert.equal(r.body, 'channel_name=private-room&socket_id=7.8');
      r.respond(200, { auth: 'app-key:abc' });
      same(lastFrame(sockets[0]), { event: 'pusher:subscribe', data: { auth: 'app-key:abc', channel: 'private-room' } });
      // client events are queued until subscribed, then sent raw
      ch.trigger('client-typing', { who: 'me' });
      assert.equal(sockets[0].sent.length, 1);
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'private-room', data: '{}' });
      same(lastFrame(sockets[0]), { event: 'client-typing', data: { who: 'me' }, channel: 'private-room' });
      assert.throws(() => ch.trigger('typing', {}), /client-/);
    });

    test('rejected auth surfaces pusher:subscription_error, never a throw', () => {
      const { Push, sockets, requests } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('private-forbidden');
      const got = [];
      ch.on('pusher:subscription_error', (e) => got.push(e));
      const globalGot = [];
      push.on('pusher:subscription_error', (e) => globalGot.push(e.status));
      sockets[0].establish();
      requests[0].respond(403, { error: 'forbidden' });
      same(got, [{ type: 'AuthError', error: 'forbidden', status: 403 }]);
      same(globalGot, [403]);
      assert.equal(ch.subscribed, false);
      // network failure, garbage 200 and a missing auth field are errors too
      const c2 = push.subscribe('private-b');
      const c3 = push.subscribe('private-c');
      const c4 = push.subscribe('presence-d');
      const more = [];
      for (const c of [c2, c3, c4]) c.on('pusher:subscription_error', (e) => more.push([c.name, e.status, e.type]));
      requests[1].respond(0, '');
      requests[2].respond(200, 'not json');
      requests[3].respond(200, { auth: 'k:s' });
      same(more, [['private-b', null, 'AuthError'], ['private-c', 200, 'AuthError'], ['presence-d', 200, 'AuthError']]);
    });

    test('server pusher:subscription_error (JSON string or object data) reaches the channel', () => {
      const { Push, sockets, requests } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('private-x');
      const got = [];
      ch.on('pusher:subscription_error', (e) => got.push(e));
      sockets[0].establish();
      requests[0].respond(200, { auth: 'app-key:wrong' });
      sockets[0].receive({ event: 'pusher:subscription_error', channel: 'private-x', data: JSON.stringify({ type: 'AuthError', error: 'Invalid signature', status: 401 }) });
      sockets[0].receive({ event: 'pusher:subscription_error', channel: 'private-x', data: { type: 'AuthError', error: 'again', status: 401 } });
      same(got, [
        { type: 'AuthError', error: 'Invalid signature', status: 401 },
        { type: 'AuthError', error: 'again', status: 401 },
      ]);
    });

    test('an auth function can stand in for the endpoint', () => {
      const { Push, sockets } = load(file);
      const calls = [];
      const push = new Push({ ...opts, auth: (params, cb) => { calls.push(params); cb(null, { auth: 'k:sig' }); } });
      push.subscribe('private-f');
      sockets[0].establish('3.3');
      same(calls, [{ channel_name: 'private-f', socket_id: '3.3' }]);
      same(lastFrame(sockets[0]).data, { auth: 'k:sig', channel: 'private-f' });
    });

    test('pusher:error is an event on the instance and the connection, with code and message', () => {
      const { Push, sockets } = load(file);
      const push = new Push(opts);
      const got = [];
      push.on('error', (e) => got.push(['push', e.type, e.code, e.message]));
      push.connection.on('error', (e) => got.push(['conn', e.data.code, e.data.message]));
      sockets[0].establish();
      sockets[0].receive({ event: 'pusher:error', data: { code: 4301, message: 'rate limited' } });
      sockets[0].receive({ event: 'pusher:error', data: JSON.stringify({ code: null, message: 'Unknown event' }) });
      sockets[0].receive({ event: 'pusher:error', data: 'plain' });
      sockets[0].receive({ event: 'pusher:error' });
      same(got, [
        ['conn', 4301, 'rate limited'], ['push', 'PusherError', 4301, 'rate limited'],
        ['conn', null, 'Unknown event'], ['push', 'PusherError', null, 'Unknown event'],
        ['conn', null, 'plain'], ['push', 'PusherError', null, 'plain'],
        ['conn', null, ''], ['push', 'PusherError', null, ''],
      ]);
      assert.equal(push.connection.state, 'connected');
    });

    test('close codes 4000-4099 stop reconnecting and emit an error', () => {
      const { Push, sockets, clock } = load(file);
      const push = new Push(opts);
      const got = [];
      push.on('error', (e) => got.push(e.code));
      sockets[0].open();
      sockets[0].serverClose(4001, 'App key not found');
      same(got, [4001]);
      assert.equal(push.connection.state, 'disconnected');
      clock.tick(60000);
      assert.equal(sockets.length, 1);
      push.connect();
      assert.equal(sockets.length, 2);
    });

    test('garbage from the server never throws', () => {
      const { Push, sockets, errors } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('presence-p');
      push.subscribe('q');
      sockets[0].establish();
      const junk = [
        'not json', '', 'null', '42', '[]', '"str"', '{}', '{"event":5}', '{"event":null}',
        { event: 'pusher:connection_established', data: 'garbage' },
        { event: 'pusher_internal:subscription_succeeded', channel: 'presence-p', data: '{"presence":5}' },
        { event: 'pusher_internal:subscription_succeeded', channel: 'presence-p', data: 'nope' },
        { event: 'pusher_internal:member_added', channel: 'presence-p', data: 'nope' },
        { event: 'pusher_internal:member_added', channel: 'presence-p' },
        { event: 'pusher_internal:member_removed', channel: 'presence-p', data: '{"user_id":"ghost"}' },
        { event: 'pusher_internal:member_removed', channel: 'presence-p', data: null },
        { event: 'pusher:subscription_error', channel: 'q', data: null },
        { event: 'pusher:subscription_error', channel: 'q', data: 12 },
        { event: 'pusher_internal:subscription_succeeded', channel: 'unknown', data: '{}' },
        { event: 'pusher_internal:whatever', channel: 'q', data: '{' },
        { event: 'pusher:cache_miss', channel: 'q' },
        { event: 'e', channel: { x: 1 }, data: '{}' },
        { event: 'e', channel: 'q', data: '{bad json' },
        { event: 'toString', channel: 'q', data: '1' },
        { event: 'e', channel: '__proto__', data: '1' },
        { event: 'e', channel: 'hasOwnProperty', data: '1' },
      ];
      const got = [];
      push.channel('q').on('e', (d) => got.push(d));
      for (const j of junk) {
        assert.doesNotThrow(() => sockets[0].receive(j));
      }
      same(got, ['{bad json']);
      assert.equal(ch.members.count, 0);
      same(errors, []);
    });

    test('presence: members, me, member_added / member_removed events', () => {
      const { Push, sockets, requests } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('presence-room');
      const log = [];
      ch.on('pusher:subscription_succeeded', (m) => log.push(['ok', m.count]));
      ch.on('pusher:member_added', (m) => log.push(['+', m.id, m.info]));
      ch.on('pusher:member_removed', (m) => log.push(['-', m.id, m.info]));
      sockets[0].establish('5.5');
      requests[0].respond(200, { auth: 'k:s', channel_data: JSON.stringify({ user_id: 'alice', user_info: { name: 'Alice' } }) });
      same(lastFrame(sockets[0]).data.channel_data, '{"user_id":"alice","user_info":{"name":"Alice"}}');
      sockets[0].receive({
        event: 'pusher_internal:subscription_succeeded',
        channel: 'presence-room',
        data: JSON.stringify({ presence: { ids: ['alice', 100], hash: { alice: { name: 'Alice' }, 100: { name: 'Num' } }, count: 2 } }),
      });
      assert.equal(ch.members.count, 2);
      same(ch.members.me, { id: 'alice', info: { name: 'Alice' } });
      same(ch.members.get(100), { id: '100', info: { name: 'Num' } });
      assert.equal(ch.members.get('nobody'), null);
      sockets[0].receive({ event: 'pusher_internal:member_added', channel: 'presence-room', data: JSON.stringify({ user_id: 'bob', user_info: { name: 'Bob' } }) });
      sockets[0].receive({ event: 'pusher_internal:member_added', channel: 'presence-room', data: JSON.stringify({ user_id: 'bob', user_info: { name: 'Bob' } }) });
      assert.equal(ch.members.count, 3, 'a repeated member_added does not count twice');
      const ids = [];
      ch.members.each((m) => ids.push(m.id));
      same(ids.sort(), ['100', 'alice', 'bob']);
      sockets[0].receive({ event: 'pusher_internal:member_removed', channel: 'presence-room', data: JSON.stringify({ user_id: 100 }) });
      sockets[0].receive({ event: 'pusher_internal:member_removed', channel: 'presence-room', data: JSON.stringify({ user_id: 100 }) });
      assert.equal(ch.members.count, 2);
      same(log, [
        ['ok', 2],
        ['+', 'bob', { name: 'Bob' }], ['+', 'bob', { name: 'Bob' }],
        ['-', '100', { name: 'Num' }],
      ]);
      // odd ids are plain keys
      sockets[0].receive({ event: 'pusher_internal:member_added', channel: 'presence-room', data: JSON.stringify({ user_id: '__proto__', user_info: { name: 'P' } }) });
      sockets[0].receive({ event: 'pusher_internal:member_added', channel: 'presence-room', data: JSON.stringify({ user_id: 'constructor', user_info: null }) });
      assert.equal(ch.members.count, 4);
      same(ch.members.get('__proto__'), { id: '__proto__', info: { name: 'P' } });
      ch.members.remove('__proto__');
      ch.members.remove('constructor');
      assert.equal(ch.members.count, 2);
      log.length = 4;
      // webman caps the listed ids at 101 but counts everyone
      sockets[0].receive({
        event: 'pusher_internal:subscription_succeeded',
        channel: 'presence-room',
        data: JSON.stringify({ presence: { ids: ['a'], hash: { a: {} }, count: 500 } }),
      });
      assert.equal(ch.members.count, 500);
      // a disconnect empties the list until the next subscription
      sockets[0].serverClose(1006);
      assert.equal(ch.members.count, 0);
      assert.equal(ch.members.me, null);
    });

    test('after a reconnect every channel is subscribed again with fresh auth; stale auth is dropped', () => {
      const { Push, sockets, requests, clock } = load(file);
      const push = new Push(opts);
      const pub = push.subscribe('pub');
      const priv = push.subscribe('private-p');
      sockets[0].establish('1.1');
      assert.equal(requests.length, 1);
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'pub', data: '{}' });
      assert.equal(pub.subscribed, true);
      sockets[0].serverClose(1006);
      assert.equal(pub.subscribed, false);
      // The old auth answer arrives after the socket died: ignored.
      requests[0].respond(200, { auth: 'k:old' });
      clock.tick(1);
      const ws = sockets[1];
      ws.establish('2.2');
      same(ws.frames(), [{ event: 'pusher:subscribe', data: { channel: 'pub' } }]);
      assert.equal(requests.length, 2);
      assert.equal(requests[1].body, 'channel_name=private-p&socket_id=2.2');
      requests[1].respond(200, { auth: 'k:new' });
      same(lastFrame(ws), { event: 'pusher:subscribe', data: { auth: 'k:new', channel: 'private-p' } });
      assert.equal(sockets[0].sent.length, 1, 'nothing more on the dead socket');
      // an answer for a channel left meanwhile is ignored too
      push.subscribe('private-gone');
      push.unsubscribe('private-gone');
      const before = ws.sent.length;
      requests[2].respond(200, { auth: 'k:x' });
      assert.equal(ws.sent.length, before);
      assert.equal(priv.subscribed, false);
    });

    test('recovery: remembers epoch and offset, re-subscribes with them, emits recovered then the missed events', () => {
      const { Push, sockets, requests, clock } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('news');
      const priv = push.subscribe('private-p');
      const seen = [];
      ch.bind_global((event, data, meta) => seen.push([event, data, meta && meta.offset]));
      sockets[0].establish('1.1');
      same(sockets[0].frames()[0], { event: 'pusher:subscribe', data: { channel: 'news' } }, 'no recover on the first subscribe');
      requests[0].respond(200, { auth: 'k:1' });
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e1', offset: 40 });
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'private-p', data: '{}' });
      sockets[0].receive({ event: 'tick', channel: 'news', data: '"a"', offset: 41 });
      same([ch.epoch, ch.offset], ['e1', 41]);
      same([priv.epoch, priv.offset], [null, null], 'a channel without history has no position');
      sockets[0].serverClose(1006);
      clock.tick(1);
      const ws = sockets[1];
      ws.establish('2.2');
      same(ws.frames()[0], { event: 'pusher:subscribe', data: { channel: 'news', recover: { epoch: 'e1', offset: 41 } } });
      requests[1].respond(200, { auth: 'k:2' });
      same(lastFrame(ws), { event: 'pusher:subscribe', data: { auth: 'k:2', channel: 'private-p' } }, 'nothing to recover there');
      ws.receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e1', offset: 43, recovered: true });
      ws.receive({ event: 'tick', channel: 'news', data: '"b"', offset: 42 });
      ws.receive({ event: 'tick', channel: 'news', data: '"c"', offset: 43 });
      same(seen.slice(1), [
        ['tick', 'a', 41],
        ['pusher:subscription_succeeded', {}, null],
        ['recovered', { epoch: 'e1', offset: 43, missed: 2 }, null],
        ['tick', 'b', 42],
        ['tick', 'c', 43],
      ]);
      same([ch.epoch, ch.offset], ['e1', 43]);
    });

    test('recovery: recovery_failed when the server cannot, and on a history reset', () => {
      const { Push, sockets, clock } = load(file);
      const push = new Push(opts);
      const ch = push.subscribe('news');
      const failed = [];
      ch.on('recovery_failed', (d) => failed.push(d));
      ch.on('recovered', () => failed.push('recovered?'));
      sockets[0].establish('1.1');
      sockets[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e1', offset: 5 });
      sockets[0].serverClose(4200);
      clock.tick(1);
      sockets[1].establish('2.2');
      same(sockets[1].frames()[0].data.recover, { epoch: 'e1', offset: 5 });
      sockets[1].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e2', offset: 0, recovered: false });
      same(failed, [{ epoch: 'e2', offset: 0 }]);
      same([ch.epoch, ch.offset], ['e2', 0], 'it goes on from the new position');
      // The server resets the history of a connected channel.
      sockets[1].receive({ event: 'pusher_internal:history_reset', channel: 'news', data: '{}', epoch: 'e3', offset: 7, recovered: false });
      same(failed[1], { epoch: 'e3', offset: 7 });
      same([ch.epoch, ch.offset], ['e3', 7]);
      // History turned off: recovery_failed, and no position any more.
      sockets[1].serverClose(1006);
      clock.tick(1);
      sockets[2].establish('3.3');
      sockets[2].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}' });
      same(failed[2], { epoch: null, offset: null });
      clock.tick(1);
      sockets[2].serverClose(1006);
      clock.tick(1);
      sockets[3].establish('4.4');
      same(sockets[3].frames()[0], { event: 'pusher:subscribe', data: { channel: 'news' } });
      assert.equal(failed.length, 3);
    });

    test('disconnect() stops for good; connect() comes back', () => {
      const { Push, sockets, clock } = load(file);
      const push = new Push(opts);
      const seen = states(push);
      sockets[0].establish();
      push.disconnect();
      assert.equal(sockets[0].closed, true);
      clock.tick(100000);
      assert.equal(sockets.length, 1);
      same(seen, ['connecting>connected', 'connected>disconnected']);
      assert.equal(Push.instances.length, 0, 'a disconnected instance is forgotten');
      push.connect();
      assert.equal(Push.instances.length, 1);
      sockets[1].establish();
      assert.equal(push.connection.state, 'connected');
    });

    test('an online event retries at once', () => {
      const listeners = [];
      const window = { addEventListener: (name, fn) => listeners.push([name, fn]) };
      const { Push, sockets, clock } = load(file, { window });
      new Push(opts);
      sockets[0].establish();
      sockets[0].serverClose(1006);
      clock.tick(1);
      sockets[1].fail();
      same(clock.delays(), [1000]);
      assert.equal(listeners[0][0], 'online');
      listeners[0][1]();
      assert.equal(sockets.length, 3);
    });
  });
}

describe('push-uniapp.js', () => {
  test('uses uni.connectSocket and uni.request (form-encoded), so private channels work natively', () => {
    const uni = makeUni();
    const { Push } = load('push-uniapp.js', { uni, XMLHttpRequest: undefined, WebSocket: undefined });
    const push = new Push({ ...opts, headers: { Authorization: 'Bearer x' } });
    const seen = states(push);
    assert.equal(uni.tasks.length, 1);
    assert.match(uni.tasks[0].url, /^ws:\/\/127\.0\.0\.1:3131\/app\/app-key\?/);
    const ch = push.subscribe('private-u');
    uni.tasks[0].establish('9.9');
    same(seen, ['connecting>connected']);
    assert.equal(uni.requests.length, 1);
    const r = uni.requests[0];
    assert.equal(r.method, 'POST');
    assert.equal(r.header['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(r.header.Authorization, 'Bearer x');
    assert.equal(r.data, 'channel_name=private-u&socket_id=9.9');
    // uni.request parses JSON itself: data arrives as an object
    r.success({ statusCode: 200, data: { auth: 'k:s' } });
    same(uni.tasks[0].frames().pop(), { event: 'pusher:subscribe', data: { auth: 'k:s', channel: 'private-u' } });
    const got = [];
    ch.on('m', (d) => got.push(d));
    uni.tasks[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'private-u', data: '{}' });
    uni.tasks[0].receive({ event: 'm', channel: 'private-u', data: '{"a":1}' });
    same(got, [{ a: 1 }]);
    const errs = [];
    push.subscribe('private-v').on('pusher:subscription_error', (e) => errs.push(e));
    uni.requests[1].fail({ errMsg: 'request:fail' });
    same(errs, [{ type: 'AuthError', error: 'request:fail', status: null }]);
  });

  test('recovers a channel after a reconnect', () => {
    const uni = makeUni();
    const { Push, clock } = load('push-uniapp.js', { uni });
    const push = new Push(opts);
    const ch = push.subscribe('news');
    const got = [];
    ch.on('recovered', (d) => got.push(d));
    ch.on('m', (d) => got.push(d));
    uni.tasks[0].establish('1.1');
    uni.tasks[0].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e1', offset: 1 });
    uni.tasks[0].h.close({ code: 1006 });
    clock.tick(1);
    uni.tasks[1].establish('2.2');
    same(uni.tasks[1].frames().pop(), { event: 'pusher:subscribe', data: { channel: 'news', recover: { epoch: 'e1', offset: 1 } } });
    uni.tasks[1].receive({ event: 'pusher_internal:subscription_succeeded', channel: 'news', data: '{}', epoch: 'e1', offset: 2, recovered: true });
    uni.tasks[1].receive({ event: 'm', channel: 'news', data: '2', offset: 2 });
    same(got, [{ epoch: 'e1', offset: 2, missed: 1 }, 2]);
  });

  test('reconnect schedule, and network recovery retries at once', () => {
    const uni = makeUni();
    const { Push, clock } = load('push-uniapp.js', { uni });
    new Push(opts);
    uni.tasks[0].establish();
    uni.tasks[0].h.close({ code: 1006 });
    const gaps = [];
    for (let i = 0; i < 3; i++) {
      const [d] = clock.delays();
      gaps.push(d);
      clock.tick(d);
      uni.tasks[uni.tasks.length - 1].h.error({});
    }
    same(gaps, [1, 1000, 2000]);
    assert.equal(uni.networkListeners.length, 1);
    uni.networkListeners[0]({ isConnected: false });
    for (let i = 0; i < 2; i++) {
      const [d] = clock.delays();
      clock.tick(d);
      uni.tasks[uni.tasks.length - 1].h.error({});
    }
    same(clock.delays(), [4000], 'doubles while offline');
    const n = uni.tasks.length;
    uni.networkListeners[0]({ isConnected: true });
    assert.equal(uni.tasks.length, n + 1);
  });
});
