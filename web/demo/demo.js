// Herald demo chat: a public room fed through the HTTP API, a presence list
// of who is online, and private messages sent as client events on a
// private-dm-<a>-<b> channel per pair of users. Uses only the Push global of
// push.js, exactly as a webman/push page would.
(function () {
  'use strict';

  var cfg = window.HERALD_DEMO || {};
  var query = new URLSearchParams(location.search);
  var wsURL = query.get('ws') || cfg.wsURL ||
    (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.hostname + ':3131';
  var appKey = query.get('key') || cfg.appKey || 'app-key';

  function clean(s) {
    return String(s || '').replace(/[^A-Za-z0-9_]/g, '').slice(0, 32);
  }
  function randomID() {
    var a = new Uint8Array(4);
    crypto.getRandomValues(a);
    return 'u' + Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  // Each page load is a new user unless ?id= says otherwise, so two tabs
  // are two people.
  var me = {
    id: clean(query.get('id')) || randomID(),
    name: (query.get('name') || '').trim().slice(0, 40)
  };
  if (!me.name) {
    me.name = 'guest-' + me.id.slice(-4);
  }

  var $ = function (id) { return document.getElementById(id); };
  $('me-name').textContent = me.name;
  $('me-id').textContent = me.id;

  var push = new Push({
    url: wsURL,
    app_key: appKey,
    auth: 'auth?user_id=' + encodeURIComponent(me.id) + '&user_name=' + encodeURIComponent(me.name)
  });
  window.demo = { push: push, me: me };

  // ------------------------------------------------------------ rendering

  function addLine(kind, from, text) {
    var li = document.createElement('li');
    li.className = 'msg-' + kind;
    if (from) {
      li.setAttribute('data-from', from.id || '');
      var b = document.createElement('span');
      b.className = 'from';
      b.textContent = from.name || from.id || '?';
      li.appendChild(b);
    }
    li.appendChild(document.createTextNode(text));
    var list = $('messages');
    list.appendChild(li);
    while (list.children.length > 200) {
      list.removeChild(list.firstChild);
    }
    li.scrollIntoView({ block: 'nearest' });
  }

  function addError(text) {
    var li = document.createElement('li');
    li.textContent = text;
    $('errors').appendChild(li);
  }

  function setState(state) {
    var el = $('state');
    el.textContent = state;
    el.setAttribute('data-state', state);
    $('socket-id').textContent = push.connection.socket_id || '–';
  }

  push.connection.on('state_change', function (s) {
    setState(s.current);
    if (s.current === 'disconnected') {
      document.body.removeAttribute('data-room');
      renderMembers();
    }
  });
  setState(push.connection.state);
  push.on('error', function (e) {
    addError('pusher:error ' + (e.code === null ? '' : e.code + ' ') + e.message);
  });

  // ------------------------------------------------------------ public room

  var room = push.subscribe('demo-room');
  room.on('pusher:subscription_succeeded', function () {
    document.body.setAttribute('data-room', 'subscribed');
  });
  room.on('message', function (data) {
    if (data && typeof data === 'object') {
      addLine('room', data.from || {}, String(data.text || ''));
    } else {
      addLine('room', { id: 'api', name: 'api' }, String(data));
    }
  });

  $('chat-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var input = $('chat-input');
    var text = input.value.trim();
    if (!text) {
      return;
    }
    input.value = '';
    fetch('publish', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        channel: 'demo-room',
        event: 'message',
        data: JSON.stringify({ from: me, text: text })
      })
    }).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (j) { addError('publish: ' + (j.error || r.status)); });
      }
    }).catch(function (err) {
      addError('publish: ' + err);
    });
  });

  // ------------------------------------------------------------ presence

  var presence = push.subscribe('presence-demo');
  var dms = {};

  function dmChannelName(otherID) {
    return 'private-dm-' + [me.id, otherID].sort().join('-');
  }

  function renderMembers() {
    var list = $('members');
    var select = $('dm-to');
    var chosen = select.value;
    list.textContent = '';
    select.textContent = '';
    var members = [];
    presence.members.each(function (m) { members.push(m); });
    members.sort(function (a, b) { return a.id < b.id ? -1 : 1; });
    members.forEach(function (m) {
      var name = (m.info && m.info.name) || m.id;
      var li = document.createElement('li');
      li.setAttribute('data-user-id', m.id);
      li.textContent = name + (m.id === me.id ? ' (you)' : '');
      if (m.id === me.id) {
        li.className = 'me';
      } else {
        var ch = dms[m.id];
        if (ch && ch.subscribed) {
          li.setAttribute('data-dm', 'ready');
        }
        var opt = document.createElement('option');
        opt.value = m.id;
        opt.textContent = name;
        select.appendChild(opt);
      }
      list.appendChild(li);
    });
    if (!select.children.length) {
      var none = document.createElement('option');
      none.value = '';
      none.textContent = 'nobody else online';
      select.appendChild(none);
      select.disabled = true;
    } else {
      select.disabled = false;
      if (chosen && dms[chosen]) {
        select.value = chosen;
      }
    }
    var count = $('member-count');
    count.textContent = String(presence.members.count);
    count.setAttribute('data-count', String(presence.members.count));
  }

  function openDM(member) {
    if (member.id === me.id || dms[member.id]) {
      return;
    }
    var ch = push.subscribe(dmChannelName(member.id));
    dms[member.id] = ch;
    ch.on('pusher:subscription_succeeded', renderMembers);
    ch.on('pusher:subscription_error', function (e) {
      addError(ch.name + ': ' + e.type + ' ' + (e.status || '') + ' ' + e.error);
    });
    ch.on('client-dm', function (data) {
      if (data && typeof data === 'object') {
        addLine('dm', data.from || { id: member.id }, String(data.text || ''));
      }
    });
  }

  function closeDM(id) {
    if (dms[id]) {
      push.unsubscribe(dms[id].name);
      delete dms[id];
    }
  }

  presence.on('pusher:subscription_succeeded', function (members) {
    // After a reconnect, drop conversations with people who left meanwhile.
    Object.keys(dms).forEach(function (id) {
      if (!members.get(id)) {
        closeDM(id);
      }
    });
    members.each(openDM);
    renderMembers();
  });
  presence.on('pusher:member_added', function (member) {
    addLine('system', null, ((member.info && member.info.name) || member.id) + ' joined');
    openDM(member);
    renderMembers();
  });
  presence.on('pusher:member_removed', function (member) {
    addLine('system', null, ((member.info && member.info.name) || member.id) + ' left');
    closeDM(member.id);
    renderMembers();
  });
  presence.on('pusher:subscription_error', function (e) {
    addError('presence-demo: ' + e.type + ' ' + (e.status || '') + ' ' + e.error);
  });

  $('dm-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var to = $('dm-to').value;
    var input = $('dm-input');
    var text = input.value.trim();
    var ch = dms[to];
    if (!text || !ch) {
      addError(ch ? 'empty message' : 'pick someone online first');
      return;
    }
    input.value = '';
    // Client events are not echoed to their sender: show our own copy.
    ch.trigger('client-dm', { from: me, text: text });
    var member = presence.members.get(to);
    addLine('dm', me, '→ ' + ((member && member.info && member.info.name) || to) + ': ' + text);
  });

  // ------------------------------------------------------------ errors

  $('try-forbidden').addEventListener('click', function () {
    var ch = push.subscribe('private-forbidden');
    ch.on('pusher:subscription_error', function (e) {
      addError('private-forbidden: ' + e.type + ' ' + e.status + ' ' + e.error);
      push.unsubscribe('private-forbidden');
    });
  });
})();
