// The ES-module build, imported the way a Vue/Vite project would.
import Push, { Push as NamedPush } from './push-vue.js';

const cfg = window.HERALD_DEMO || {};
const query = new URLSearchParams(location.search);
const wsURL = query.get('ws') || cfg.wsURL ||
  (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.hostname + ':3131';

document.body.setAttribute('data-esm', Push === NamedPush ? 'ok' : 'mismatch');

const push = new Push({ url: wsURL, app_key: query.get('key') || cfg.appKey || 'app-key', auth: 'auth' });
window.demo = { push };

const state = document.getElementById('state');
const show = (s) => {
  state.textContent = s;
  state.setAttribute('data-state', s);
};
show(push.connection.state);
push.connection.on('state_change', ({ previous, current }) => {
  const li = document.createElement('li');
  li.textContent = previous + ' → ' + current;
  li.setAttribute('data-change', previous + '>' + current);
  document.getElementById('states').appendChild(li);
  show(current);
});

const room = push.subscribe('demo-room');
room.on('pusher:subscription_succeeded', () => document.body.setAttribute('data-room', 'subscribed'));
room.on('message', (data) => {
  const li = document.createElement('li');
  li.className = 'msg-room';
  li.textContent = data && typeof data === 'object'
    ? ((data.from && data.from.name) || '?') + ': ' + String(data.text || '')
    : String(data);
  document.getElementById('messages').appendChild(li);
});
