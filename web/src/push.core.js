// Herald's JavaScript client: the one source of dist/push.js (browser
// global), dist/push-vue.js (ES module) and dist/push-uniapp.js (ES module
// on uni.* APIs). web/build.mjs keeps the lines between "//#if <target>" and
// "//#endif" for its own target only and wraps the result; run
// `node web/build.mjs` after editing and commit dist/ with this file.
//
// The API is webman/push's (new Push({url, app_key, auth}), subscribe,
// channel.on, channel.trigger, ...) with what that client lacked: presence
// members, error and subscription-error events, state_change on every
// transition, channel()/allChannels() that work, bind/unbind aliases.
// Plain ES5-level syntax on purpose, so that old webviews run it unbuilt.
//
// Recovery (Herald's channel history, docs/recovery.md): on a channel with
// history every event carries its offset and subscription_succeeded the
// stream's epoch; the channel remembers both and, when it subscribes again
// after a reconnect, asks for what it missed. It then emits 'recovered'
// (the missed events follow, in order) or 'recovery_failed' (nothing was
// replayed: re-fetch the state), and 'recovery_failed' also when the
// server resets the channel's history while connected.

var VERSION = '1.0.0';

var DEFAULT_HEARTBEAT = 25000;
var DEFAULT_PING_TIMEOUT = 10000;
var AUTH_TIMEOUT = 10000;
var MAX_RECONNECT_ONLINE = 2000;
var MAX_QUEUE = 100;

function hasOwn(obj, key) {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

function isObject(v) {
  return v !== null && typeof v === 'object';
}

// decode returns the JSON value a string holds, or the value itself when it
// is not a string or not JSON: servers send data as JSON text, but an object
// or a plain string must not make the client throw.
function decode(v) {
  if (typeof v !== 'string') {
    return v;
  }
  try {
    return JSON.parse(v);
  } catch (e) {
    return v;
  }
}

function logError(e) {
  try {
    if (typeof console !== 'undefined' && console.error) {
      console.error('[Push]', e);
    }
  } catch (ignore) {}
}

function formEncode(params) {
  var parts = [];
  for (var k in params) {
    if (hasOwn(params, k)) {
      parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(params[k] == null ? '' : params[k]));
    }
  }
  return parts.join('&');
}

function needsAuth(name) {
  return name.indexOf('private-') === 0 || name.indexOf('presence-') === 0;
}

function isPresence(name) {
  return name.indexOf('presence-') === 0;
}

// ---------------------------------------------------------------- events

function Dispatcher() {
  this.callbacks = {};
  this.globals = [];
}

Dispatcher.prototype.add = function (event, fn, context) {
  if (typeof fn !== 'function') {
    return;
  }
  var key = '_' + event;
  (this.callbacks[key] || (this.callbacks[key] = [])).push({ fn: fn, context: context });
};

Dispatcher.prototype.remove = function (event, fn, context) {
  if (!event && !fn && !context) {
    this.callbacks = {};
    return;
  }
  var keys = event ? ['_' + event] : Object.keys(this.callbacks);
  for (var i = 0; i < keys.length; i++) {
    var list = this.callbacks[keys[i]];
    if (!list) {
      continue;
    }
    if (!fn && !context) {
      delete this.callbacks[keys[i]];
      continue;
    }
    var kept = [];
    for (var j = 0; j < list.length; j++) {
      if ((fn && fn !== list[j].fn) || (context && context !== list[j].context)) {
        kept.push(list[j]);
      }
    }
    if (kept.length) {
      this.callbacks[keys[i]] = kept;
    } else {
      delete this.callbacks[keys[i]];
    }
  }
};

// call runs every callback of event; one that throws is logged and does not
// stop the others nor the client.
Dispatcher.prototype.call = function (self, event, data, meta) {
  var i;
  var globals = this.globals.slice();
  for (i = 0; i < globals.length; i++) {
    try {
      globals[i].call(self, event, data, meta);
    } catch (e) {
      logError(e);
    }
  }
  var list = (this.callbacks['_' + event] || []).slice();
  for (i = 0; i < list.length; i++) {
    try {
      list[i].fn.call(list[i].context || self, data, meta);
    } catch (e) {
      logError(e);
    }
  }
};

// eventful gives a prototype on/off/emit and the pusher-js names
// bind/unbind/bind_global/unbind_global/unbind_all.
function eventful(proto) {
  proto.on = proto.bind = function (event, fn, context) {
    this._events.add(event, fn, context);
    return this;
  };
  proto.off = proto.unbind = function (event, fn, context) {
    this._events.remove(event, fn, context);
    return this;
  };
  proto.bind_global = function (fn) {
    if (typeof fn === 'function') {
      this._events.globals.push(fn);
    }
    return this;
  };
  proto.unbind_global = function (fn) {
    var g = this._events.globals;
    this._events.globals = [];
    for (var i = 0; i < g.length; i++) {
      if (fn && g[i] !== fn) {
        this._events.globals.push(g[i]);
      }
    }
    return this;
  };
  proto.unbind_all = function () {
    this._events.remove();
    this._events.globals = [];
    return this;
  };
  if (!proto.emit) {
    proto.emit = function (event, data, meta) {
      this._events.call(this, event, data, meta);
      return this;
    };
  }
}

// ---------------------------------------------------------------- platform

//#if browser
var platform = {
  openSocket: function (url, h) {
    var ws = new WebSocket(url);
    ws.onopen = function () { h.open(); };
    ws.onmessage = function (e) { h.message(e && e.data); };
    ws.onclose = function (e) { h.close(e && e.code, e && e.reason); };
    ws.onerror = function (e) { h.error(e); };
    return {
      send: function (s) { ws.send(s); },
      close: function () {
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        try { ws.close(); } catch (e) {}
      }
    };
  },
  // request POSTs a form; done(status, body, errorMessage) runs once.
  request: function (opts, done) {
    var xhr = new XMLHttpRequest();
    xhr.open('POST', opts.url, true);
    xhr.setRequestHeader('Content-Type', 'application/x-www-form-urlencoded');
    for (var k in opts.headers) {
      if (hasOwn(opts.headers, k)) {
        xhr.setRequestHeader(k, opts.headers[k]);
      }
    }
    try { xhr.timeout = opts.timeout; } catch (e) {}
    xhr.onreadystatechange = function () {
      if (xhr.readyState === 4) {
        done(xhr.status, xhr.responseText, xhr.status ? '' : 'network error');
      }
    };
    xhr.send(opts.body);
  },
  isOnline: function () {
    return typeof navigator === 'undefined' || navigator.onLine !== false;
  },
  onOnline: function (fn) {
    if (typeof window !== 'undefined' && window.addEventListener) {
      window.addEventListener('online', fn);
    }
  }
};
//#endif
//#if uniapp
var uniOnline = true;
var platform = {
  openSocket: function (url, h) {
    // With a callback given, uni.connectSocket returns a SocketTask, so
    // several connections can coexist; very old runtimes only have the
    // one global socket.
    var task = uni.connectSocket({ url: url, complete: function () {} });
    if (task && typeof task.onOpen === 'function') {
      task.onOpen(function () { h.open(); });
      task.onMessage(function (res) { h.message(res && res.data); });
      task.onClose(function (res) { h.close(res && res.code, res && res.reason); });
      task.onError(function (e) { h.error(e); });
      return {
        send: function (s) { task.send({ data: s }); },
        close: function () { try { task.close({}); } catch (e) {} }
      };
    }
    uni.onSocketOpen(function () { h.open(); });
    uni.onSocketMessage(function (res) { h.message(res && res.data); });
    uni.onSocketClose(function (res) { h.close(res && res.code, res && res.reason); });
    uni.onSocketError(function (e) { h.error(e); });
    return {
      send: function (s) { uni.sendSocketMessage({ data: s }); },
      close: function () { try { uni.closeSocket({}); } catch (e) {} }
    };
  },
  // request POSTs a form with uni.request, so private channels work in
  // native apps and mini programs too, not only in H5.
  request: function (opts, done) {
    var header = { 'content-type': 'application/x-www-form-urlencoded' };
    for (var k in opts.headers) {
      if (hasOwn(opts.headers, k)) {
        header[k] = opts.headers[k];
      }
    }
    uni.request({
      url: opts.url,
      method: 'POST',
      header: header,
      data: opts.body,
      timeout: opts.timeout,
      success: function (res) { done(res.statusCode, res.data, ''); },
      fail: function (err) { done(0, '', (err && err.errMsg) || 'network error'); }
    });
  },
  isOnline: function () {
    return uniOnline;
  },
  onOnline: function (fn) {
    if (typeof uni !== 'undefined' && uni.onNetworkStatusChange) {
      try {
        uni.onNetworkStatusChange(function (res) {
          uniOnline = !!(res && res.isConnected);
          if (uniOnline) {
            fn();
          }
        });
      } catch (e) {}
    }
  }
};
//#endif

// ---------------------------------------------------------------- members

// Members is a presence channel's member list: count, each, get(id), me,
// and members (id -> user_info), as in pusher-js. Ids are kept as strings.
function Members() {
  this.myID = null;
  this.reset();
}

Members.prototype.reset = function () {
  // No prototype: user ids such as "__proto__" are plain keys.
  this.members = Object.create(null);
  this.count = 0;
  this.me = null;
};

Members.prototype.get = function (id) {
  var key = String(id);
  return hasOwn(this.members, key) ? { id: key, info: this.members[key] } : null;
};

Members.prototype.each = function (fn) {
  for (var key in this.members) {
    if (hasOwn(this.members, key)) {
      fn(this.get(key));
    }
  }
};

Members.prototype.setMyID = function (id) {
  this.myID = id == null ? null : String(id);
};

Members.prototype.onSubscription = function (data) {
  var presence = isObject(data) && isObject(data.presence) ? data.presence : {};
  var hash = isObject(presence.hash) ? presence.hash : {};
  var ids = Array.isArray(presence.ids) ? presence.ids : Object.keys(hash);
  this.reset();
  var n = 0;
  for (var i = 0; i < ids.length; i++) {
    var key = String(ids[i]);
    if (!hasOwn(this.members, key)) {
      n++;
    }
    this.members[key] = hash[key] === undefined ? null : hash[key];
  }
  // webman lists at most 101 members but counts them all.
  this.count = typeof presence.count === 'number' && presence.count >= n ? presence.count : n;
  this.me = this.myID === null ? null : this.get(this.myID);
};

Members.prototype.add = function (id, info) {
  var key = String(id);
  if (!hasOwn(this.members, key)) {
    this.count++;
  }
  this.members[key] = info === undefined ? null : info;
  if (key === this.myID) {
    this.me = this.get(key);
  }
  return this.get(key);
};

Members.prototype.remove = function (id) {
  var member = this.get(id);
  if (member) {
    delete this.members[member.id];
    this.count = Math.max(0, this.count - 1);
  }
  return member;
};

// ---------------------------------------------------------------- channel

function Channel(push, name) {
  this._events = new Dispatcher();
  this.push = push;
  this.connection = push.connection;
  this.channelName = name;
  this.name = name;
  this.subscribed = false;
  this.subscriptionPending = false;
  this.subscriptionCount = null;
  this.queue = [];
  this.removed = false;
  // The channel's place in its stream, on a channel with history: null
  // until the server names one.
  this.epoch = null;
  this.offset = null;
  this.recovering = false;
  if (isPresence(name)) {
    this.members = new Members();
  }
}

// Every channel event is also passed to the Push instance's own handlers,
// so push.on('my-event', fn) hears it on all channels, as in pusher-js.
Channel.prototype.emit = function (event, data, meta) {
  this._events.call(this, event, data, meta);
  this.push._events.call(this.push, event, data, meta);
  return this;
};

eventful(Channel.prototype);

Channel.prototype.processSubscribe = function () {
  if (this.connection.state !== 'connected' || this.removed) {
    return;
  }
  var self = this;
  var push = this.push;
  var name = this.channelName;
  var socketId = this.connection.socket_id;
  this.subscribed = false;
  this.subscriptionPending = true;
  if (!needsAuth(name)) {
    this.connection.send({ event: 'pusher:subscribe', data: this.withRecover({ channel: name }) });
    return;
  }
  push.authorize(name, socketId, function (err, auth) {
    // Drop the answer if the channel was left or the connection changed
    // meanwhile: a fresh subscribe runs with the new socket_id.
    if (self.removed || push.channels[name] !== self || self.connection.socket_id !== socketId ||
        self.connection.state !== 'connected') {
      return;
    }
    if (!err && isPresence(name)) {
      var channelData = typeof auth.channel_data === 'string' ? decode(auth.channel_data) : null;
      if (!isObject(channelData) || channelData.user_id == null) {
        err = { type: 'AuthError', error: 'auth response for a presence channel lacks channel_data with user_id', status: 200 };
      } else {
        self.members.setMyID(channelData.user_id);
      }
    }
    if (err) {
      self.subscriptionPending = false;
      self.emit('pusher:subscription_error', err);
      return;
    }
    var data = {};
    for (var k in auth) {
      if (hasOwn(auth, k)) {
        data[k] = auth[k];
      }
    }
    data.channel = name;
    self.connection.send({ event: 'pusher:subscribe', data: self.withRecover(data) });
  });
};

// withRecover adds the channel's place in its stream to a subscribe, if it
// has one: the server then answers with what was missed since.
Channel.prototype.withRecover = function (data) {
  this.recovering = this.epoch !== null;
  if (this.recovering) {
    data.recover = { epoch: this.epoch, offset: this.offset };
  }
  return data;
};

// onSubscribed takes the stream's position from subscription_succeeded and
// returns the recovery's outcome to emit, if the subscribe asked for one.
Channel.prototype.onSubscribed = function (frame) {
  var asked = this.recovering;
  var from = this.offset;
  this.recovering = false;
  if (typeof frame.epoch !== 'string' || typeof frame.offset !== 'number') {
    this.epoch = this.offset = null;
    return asked ? { event: 'recovery_failed', data: { epoch: null, offset: null } } : null;
  }
  if (asked && frame.recovered === true && frame.epoch === this.epoch) {
    // The missed events follow; each moves the offset on.
    return { event: 'recovered', data: { epoch: frame.epoch, offset: frame.offset, missed: Math.max(0, frame.offset - from) } };
  }
  this.epoch = frame.epoch;
  this.offset = frame.offset;
  return asked ? { event: 'recovery_failed', data: { epoch: frame.epoch, offset: frame.offset } } : null;
};

Channel.prototype.processQueue = function () {
  if (this.connection.state !== 'connected' || !this.subscribed) {
    return;
  }
  var queue = this.queue;
  this.queue = [];
  for (var i = 0; i < queue.length; i++) {
    this.connection.send(queue[i]);
  }
};

// trigger sends a client event ("client-" prefix, private and presence
// channels only) once the channel is subscribed.
Channel.prototype.trigger = function (event, data) {
  if (typeof event !== 'string' || event.indexOf('client-') !== 0) {
    throw new Error("Event '" + event + "' should start with 'client-'");
  }
  if (this.queue.length >= MAX_QUEUE) {
    this.queue.shift();
  }
  this.queue.push({ event: event, data: data, channel: this.channelName });
  this.processQueue();
  return true;
};

Channel.prototype.unsubscribe = function () {
  this.push.unsubscribe(this.channelName);
};

Channel.prototype.disconnected = function () {
  this.subscribed = false;
  this.subscriptionPending = false;
  if (this.members) {
    this.members.reset();
  }
};

// handle takes one frame of the channel: event, its decoded data, the meta
// passed to handlers, and the frame itself (for the history fields).
Channel.prototype.handle = function (event, data, meta, frame) {
  var member;
  var outcome;
  switch (event) {
    case 'pusher_internal:subscription_succeeded':
      this.subscribed = true;
      this.subscriptionPending = false;
      outcome = this.onSubscribed(frame || {});
      if (this.members) {
        this.members.onSubscription(data);
      }
      this.processQueue();
      this.emit('pusher:subscription_succeeded', this.members || data);
      if (outcome) {
        this.emit(outcome.event, outcome.data);
      }
      return;
    case 'pusher_internal:history_reset':
      if (frame && typeof frame.epoch === 'string' && typeof frame.offset === 'number') {
        this.epoch = frame.epoch;
        this.offset = frame.offset;
        this.emit('recovery_failed', { epoch: frame.epoch, offset: frame.offset });
      }
      return;
    case 'pusher:subscription_error':
      this.recovering = false;
      this.subscribed = false;
      this.subscriptionPending = false;
      this.emit('pusher:subscription_error', normalizeSubscriptionError(data));
      return;
    case 'pusher_internal:member_added':
      if (this.members && isObject(data) && data.user_id != null) {
        member = this.members.add(data.user_id, data.user_info);
        this.emit('pusher:member_added', member);
      }
      return;
    case 'pusher_internal:member_removed':
      if (this.members && isObject(data) && data.user_id != null) {
        member = this.members.remove(data.user_id);
        if (member) {
          this.emit('pusher:member_removed', member);
        }
      }
      return;
    case 'pusher_internal:subscription_count':
      if (isObject(data) && typeof data.subscription_count === 'number') {
        this.subscriptionCount = data.subscription_count;
      }
      this.emit('pusher:subscription_count', data);
      return;
  }
  if (event.indexOf('pusher_internal:') === 0) {
    return;
  }
  if (frame && typeof frame.offset === 'number' && this.epoch !== null) {
    meta.offset = frame.offset;
    if (frame.offset > this.offset) {
      this.offset = frame.offset;
    }
  }
  this.emit(event, data, meta);
};

function normalizeSubscriptionError(data) {
  if (isObject(data)) {
    return {
      type: data.type || 'AuthError',
      error: data.error != null ? String(data.error) : String(data.message || ''),
      status: typeof data.status === 'number' ? data.status : null
    };
  }
  return { type: 'AuthError', error: data == null ? '' : String(data), status: null };
}

// ---------------------------------------------------------------- connection

// Connection owns the socket: states initialized -> connecting -> connected
// -> disconnected, each change emitted as state_change {previous, current}
// and as the state's own event name. It reconnects after 1 ms, 1 s, 2 s,
// 2 s, ... (doubling without bound while offline) and pings every
// heartbeat ms (or the server's activity_timeout, if lower), dropping the
// socket when no frame comes back within pingTimeout.
function Connection(push, options) {
  this._events = new Dispatcher();
  this.push = push;
  this.options = options;
  this.state = 'initialized';
  this.socket_id = null;
  this.doNotConnect = 0;
  this.reconnectInterval = 1;
  this.reconnectTimer = 0;
  this.pingTimer = 0;
  this.pongTimer = 0;
  this.activityTimeout = null;
  this.socket = null;
  this.token = null;
}

eventful(Connection.prototype);

Connection.prototype.updateNetworkState = function (state) {
  var previous = this.state;
  if (previous === state) {
    return;
  }
  this.state = state;
  this.emit('state_change', { previous: previous, current: state });
  this.emit(state);
};

Connection.prototype.url = function () {
  var base = String(this.options.url).replace(/\/+$/, '');
  return base + '/app/' + encodeURIComponent(this.options.app_key) +
    '?protocol=7&client=js&version=' + VERSION + '&flash=false';
};

Connection.prototype.connect = function () {
  this.doNotConnect = 0;
  if (this.state === 'connected') {
    return;
  }
  this.clearReconnect();
  this.closeAndClean();
  var self = this;
  var token = {};
  this.token = token;
  var live = function () { return self.token === token; };
  var socket;
  try {
    socket = platform.openSocket(this.url(), {
      open: function () { if (live()) { self.onOpen(); } },
      message: function (data) { if (live()) { self.push.onMessage(data); } },
      close: function (code, reason) { if (live()) { self.onClose(code, reason); } },
      error: function () { if (live()) { self.onClose(null, 'socket error'); } }
    });
  } catch (e) {
    this.token = null;
    this.socket = null;
    this.updateNetworkState('disconnected');
    this.push.emitError({ type: 'WebSocketError', code: null, message: String((e && e.message) || e) });
    this.waitReconnect();
    return;
  }
  if (live()) {
    this.socket = socket;
    this.updateNetworkState('connecting');
  }
};

Connection.prototype.onOpen = function () {
  if (this.doNotConnect) {
    this.closeAndClean();
    return;
  }
  // The first ping timer also bounds the wait for connection_established.
  this.armPing();
};

Connection.prototype.onClose = function (code, reason) {
  this.token = null;
  this.socket = null;
  this.stopHeartbeat();
  this.push.markDisconnected();
  this.updateNetworkState('disconnected');
  // Pusher's close codes 4000-4099 and 4300-4399 mean "do not come back"
  // (unknown app, disabled app, ...); pusher-js stops there too.
  if (typeof code === 'number' && ((code >= 4000 && code < 4100) || (code >= 4300 && code < 4400))) {
    this.push.emitError({ type: 'PusherError', code: code, message: reason || 'connection refused' });
    this.doNotConnect = 1;
    return;
  }
  this.waitReconnect();
};

Connection.prototype.onEstablished = function (data) {
  this.socket_id = isObject(data) && data.socket_id != null ? String(data.socket_id) : null;
  var at = isObject(data) ? Number(data.activity_timeout) : NaN;
  this.activityTimeout = at > 0 ? at : null;
  this.reconnectInterval = 1;
  this.updateNetworkState('connected');
  this.armPing();
};

Connection.prototype.heartbeatInterval = function () {
  var hb = this.options.heartbeat;
  if (this.activityTimeout && this.activityTimeout * 1000 < hb) {
    hb = this.activityTimeout * 1000;
  }
  return hb;
};

Connection.prototype.armPing = function () {
  var self = this;
  clearTimeout(this.pingTimer);
  this.pingTimer = setTimeout(function () {
    self.pingTimer = 0;
    self.ping();
  }, this.heartbeatInterval());
};

Connection.prototype.ping = function () {
  var self = this;
  if (this.state !== 'connected') {
    // Opened but never established: start over.
    this.dropAndReconnect();
    return;
  }
  this.send({ event: 'pusher:ping', data: {} });
  clearTimeout(this.pongTimer);
  this.pongTimer = setTimeout(function () {
    self.pongTimer = 0;
    self.dropAndReconnect();
  }, this.options.pingTimeout);
};

// onActivity runs for every inbound frame: it answers a pending ping and
// arms the next one; pings are not delayed by other traffic.
Connection.prototype.onActivity = function () {
  if (this.pongTimer) {
    clearTimeout(this.pongTimer);
    this.pongTimer = 0;
    this.armPing();
  } else if (!this.pingTimer) {
    this.armPing();
  }
};

Connection.prototype.stopHeartbeat = function () {
  clearTimeout(this.pingTimer);
  clearTimeout(this.pongTimer);
  this.pingTimer = this.pongTimer = 0;
};

Connection.prototype.clearReconnect = function () {
  if (this.reconnectTimer) {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = 0;
  }
};

Connection.prototype.dropAndReconnect = function () {
  this.closeAndClean();
  this.waitReconnect();
};

Connection.prototype.closeAndClean = function () {
  this.stopHeartbeat();
  var socket = this.socket;
  this.token = null;
  this.socket = null;
  if (socket) {
    try { socket.close(); } catch (e) {}
    this.push.markDisconnected();
    this.updateNetworkState('disconnected');
  }
};

Connection.prototype.waitReconnect = function () {
  if (this.doNotConnect || this.state === 'connected' || this.state === 'connecting') {
    return;
  }
  var self = this;
  this.updateNetworkState('connecting');
  this.clearReconnect();
  this.reconnectTimer = setTimeout(function () {
    self.reconnectTimer = 0;
    self.connect();
  }, this.reconnectInterval);
  this.reconnectInterval = this.reconnectInterval < 1000 ? 1000 : this.reconnectInterval * 2;
  if (this.reconnectInterval > MAX_RECONNECT_ONLINE && platform.isOnline()) {
    this.reconnectInterval = MAX_RECONNECT_ONLINE;
  }
};

// send writes a frame (an object is JSON-encoded) if connected; it returns
// whether the frame went out.
Connection.prototype.send = function (frame) {
  if (this.state !== 'connected' || !this.socket) {
    return false;
  }
  try {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    return true;
  } catch (e) {
    logError(e);
    return false;
  }
};

Connection.prototype.close = Connection.prototype.disconnect = function () {
  this.doNotConnect = 1;
  this.clearReconnect();
  this.closeAndClean();
  this.updateNetworkState('disconnected');
};

// ---------------------------------------------------------------- push

// new Push({url, app_key, auth, heartbeat, pingTimeout, headers}) connects
// at once. url is the WebSocket base ("ws://host:3131"); /app/<app_key> is
// appended. auth is the URL private and presence subscriptions POST
// channel_name and socket_id to (form-encoded), or a function
// (params, callback(err, {auth, channel_data})); headers go with that POST.
function Push(options) {
  options = options || {};
  if (!options.url || !options.app_key) {
    throw new Error('Push needs url and app_key');
  }
  var config = {};
  for (var k in options) {
    if (hasOwn(options, k)) {
      config[k] = options[k];
    }
  }
  config.heartbeat = Number(config.heartbeat) > 0 ? Number(config.heartbeat) : DEFAULT_HEARTBEAT;
  config.pingTimeout = Number(config.pingTimeout) > 0 ? Number(config.pingTimeout) : DEFAULT_PING_TIMEOUT;
  config.headers = isObject(config.headers) ? config.headers : {};
  this._events = new Dispatcher();
  this.config = config;
  this.channels = {};
  this.connection = new Connection(this, config);
  Push.instances.push(this);
  this.connection.connect();
}

Push.VERSION = VERSION;
Push.instances = [];

eventful(Push.prototype);

Push.prototype.emitError = function (err) {
  err.data = { code: err.code, message: err.message };
  this.connection.emit('error', err);
  this._events.call(this, 'error', err);
};

Push.prototype.onMessage = function (raw) {
  try {
    this.handleFrame(raw);
  } catch (e) {
    // Nothing a server sends may escape as an uncaught exception.
    logError(e);
  }
};

Push.prototype.handleFrame = function (raw) {
  this.connection.onActivity();
  var frame = decode(raw);
  if (!isObject(frame) || typeof frame.event !== 'string') {
    return;
  }
  var event = frame.event;
  var data = decode(frame.data);
  var name = typeof frame.channel === 'string' ? frame.channel : null;
  var channel = name !== null && hasOwn(this.channels, name) ? this.channels[name] : null;
  switch (event) {
    case 'pusher:ping':
      this.connection.send({ event: 'pusher:pong', data: {} });
      return;
    case 'pusher:pong':
      return;
    case 'pusher:connection_established':
      this.connection.onEstablished(data);
      this.subscribeAll();
      return;
    case 'pusher:error':
      var err = {
        type: 'PusherError',
        code: isObject(data) && typeof data.code === 'number' ? data.code : null,
        message: isObject(data) ? String(data.message == null ? '' : data.message) : String(data == null ? '' : data)
      };
      this.emitError(err);
      if (channel) {
        channel.emit('pusher:error', err);
      }
      return;
  }
  if (!channel) {
    return;
  }
  var meta = { channel: name };
  if (frame.user_id != null) {
    meta.user_id = frame.user_id;
  }
  channel.handle(event, data, meta, frame);
};

Push.prototype.authorize = function (name, socketId, callback) {
  var done = false;
  var once = function (err, data) {
    if (!done) {
      done = true;
      callback(err, data);
    }
  };
  var auth = this.config.auth;
  var params = { channel_name: name, socket_id: socketId };
  var bad = function (status, message) {
    return { type: 'AuthError', error: message, status: status };
  };
  var check = function (status, body) {
    var data = decode(body);
    if (!isObject(data) || typeof data.auth !== 'string') {
      once(bad(status, 'invalid auth response'));
      return;
    }
    once(null, data);
  };
  try {
    if (typeof auth === 'function') {
      auth(params, function (err, data) {
        if (err) {
          once(bad(isObject(err) && typeof err.status === 'number' ? err.status : null, String((err && err.message) || err)));
        } else {
          check(200, data);
        }
      });
      return;
    }
    if (!auth) {
      once(bad(null, 'no auth endpoint configured for ' + name));
      return;
    }
    platform.request({
      url: auth,
      body: formEncode(params),
      headers: this.config.headers,
      timeout: AUTH_TIMEOUT
    }, function (status, body, message) {
      if (status >= 200 && status < 300) {
        check(status, body);
        return;
      }
      var reply = decode(body);
      var why = isObject(reply) && (reply.error || reply.message) ? String(reply.error || reply.message) : '';
      once(bad(status || null, why || message || ('auth endpoint answered HTTP ' + status)));
    });
  } catch (e) {
    once(bad(null, String((e && e.message) || e)));
  }
};

Push.prototype.markDisconnected = function () {
  for (var name in this.channels) {
    if (hasOwn(this.channels, name)) {
      this.channels[name].disconnected();
    }
  }
};

Push.prototype.subscribeAll = function () {
  for (var name in this.channels) {
    if (hasOwn(this.channels, name)) {
      this.channels[name].processSubscribe();
    }
  }
};

// subscribe returns the channel called name, creating and subscribing it
// (with a fresh auth request for private- and presence- channels) unless it
// exists. It is subscribed again after every reconnect.
Push.prototype.subscribe = function (name) {
  name = String(name);
  if (hasOwn(this.channels, name)) {
    return this.channels[name];
  }
  var channel = new Channel(this, name);
  this.channels[name] = channel;
  channel.processSubscribe();
  return channel;
};

Push.prototype.unsubscribe = function (name) {
  name = String(name);
  if (!hasOwn(this.channels, name)) {
    return;
  }
  var channel = this.channels[name];
  delete this.channels[name];
  channel.removed = true;
  channel.disconnected();
  channel.queue = [];
  this.connection.send({ event: 'pusher:unsubscribe', data: { channel: name } });
};

Push.prototype.unsubscribeAll = function () {
  var names = Object.keys(this.channels);
  for (var i = 0; i < names.length; i++) {
    this.unsubscribe(names[i]);
  }
};

Push.prototype.channel = function (name) {
  name = String(name);
  return hasOwn(this.channels, name) ? this.channels[name] : undefined;
};

Push.prototype.allChannels = function () {
  var list = [];
  for (var name in this.channels) {
    if (hasOwn(this.channels, name)) {
      list.push(this.channels[name]);
    }
  }
  return list;
};

// disconnect closes the connection for good (and forgets the instance in
// Push.instances); connect() opens it again.
Push.prototype.disconnect = function () {
  this.connection.disconnect();
  for (var i = Push.instances.length - 1; i >= 0; i--) {
    if (Push.instances[i] === this) {
      Push.instances.splice(i, 1);
    }
  }
};

Push.prototype.connect = function () {
  if (Push.instances.indexOf(this) < 0) {
    Push.instances.push(this);
  }
  this.connection.reconnectInterval = 1;
  this.connection.connect();
};

// When the network comes back, waiting instances retry at once.
platform.onOnline(function () {
  for (var i = 0; i < Push.instances.length; i++) {
    var c = Push.instances[i].connection;
    c.reconnectInterval = 1;
    if (c.state === 'connecting' && c.reconnectTimer) {
      c.connect();
    }
  }
});
