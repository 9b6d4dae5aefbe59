// Herald's dashboard: live counts, the channel list and the debug console
// of one broker. Plain JavaScript, no build step; served by web and fed by
// the dashboard package's endpoints under /dashboard/api/.
//
// The token comes from the URL fragment (#token=…, which never reaches a
// server) or the prompt, and is kept in sessionStorage (this tab only). It
// goes in an Authorization header, and in the event stream's query
// because EventSource cannot set headers.
(function () {
  'use strict';

  var TOKEN_KEY = 'herald-dashboard-token';
  var MAX_ROWS = 500; // console rows kept on screen
  var MAX_PENDING = 1000; // observations kept while paused
  var OVERVIEW_EVERY = 2000;
  var CHANNELS_EVERY = 3000;

  var $ = function (id) { return document.getElementById(id); };
  var token = '';
  var apps = [];
  var source = null;
  var timers = [];
  var paused = false;
  var pending = [];
  var pendingDropped = 0;
  var streamDropped = 0;
  var channelTimer = 0;

  // ---- token ----

  function takeTokenFromHash() {
    var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (!m) return;
    try {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    } catch (e) { /* storage refused: the prompt will ask */ }
    history.replaceState(null, '', location.pathname + location.search);
  }

  function storedToken() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function lock(message) {
    stop();
    token = '';
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* nothing kept */ }
    setLive('locked');
    $('main').hidden = true;
    $('app-pick').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
    $('token-input').focus();
  }

  function unlock(t) {
    token = t;
    $('login').hidden = true;
    $('main').hidden = false;
    $('app-pick').hidden = false;
    start();
  }

  // ---- data ----

  function api(path) {
    return fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' }).then(function (res) {
      if (res.status === 401) {
        lock('The token was refused: check dashboard.token.');
        throw new Error('unauthorized');
      }
      return res.json().then(function (body) {
        if (!res.ok) throw new Error(body && body.error ? body.error : 'HTTP ' + res.status);
        return body;
      });
    });
  }

  function start() {
    stop();
    // The overview opens the event stream once it has the apps, and
    // again whenever the stream was closed for good.
    refreshOverview().then(function () {
      refreshChannels(false);
    }, function () { /* locked or offline: the timers retry */ });
    timers.push(setInterval(refreshOverview, OVERVIEW_EVERY));
    timers.push(setInterval(function () { refreshChannels(false); }, CHANNELS_EVERY));
  }

  function stop() {
    timers.forEach(clearInterval);
    timers = [];
    if (source) source.close();
    source = null;
  }

  function selectedApp() { return $('app').value; }

  function refreshOverview() {
    return api('api/overview').then(function (body) {
      apps = body.apps || [];
      fillAppSelects();
      var app = apps.find(function (a) { return a.id === selectedApp(); });
      if (app) showCounts(app);
      if (!source || source.readyState === 2) connectStream();
    }, function (err) {
      if (token) setLive('offline', err.message);
      throw err;
    });
  }

  function fillAppSelects() {
    var ids = apps.map(function (a) { return a.id; });
    syncOptions($('app'), ids, false);
    syncOptions($('filter-app'), ids, true);
  }

  // syncOptions makes select's options the ids (after "All apps" when
  // keepAll), keeping the selection when it still exists.
  function syncOptions(select, ids, keepAll) {
    var have = Array.prototype.map.call(select.options, function (o) { return o.value; });
    var want = (keepAll ? [''] : []).concat(ids);
    if (have.join('\n') === want.join('\n')) return;
    var current = select.value;
    while (select.options.length > (keepAll ? 1 : 0)) select.remove(select.options.length - 1);
    ids.forEach(function (id) {
      var o = document.createElement('option');
      o.value = id;
      o.textContent = id;
      select.appendChild(o);
    });
    if (want.indexOf(current) >= 0) select.value = current;
  }

  function perSecond(r) {
    var v = r ? r.per_second : 0;
    return v >= 10 ? String(Math.round(v)) : v.toFixed(1);
  }

  function setCount(id, value, text) {
    var el = $(id);
    el.dataset.value = String(value);
    el.textContent = text === undefined ? String(value) : text;
  }

  function showCounts(app) {
    var s = app.stats;
    setCount('count-connections', s.connections);
    setCount('count-channels', app.channels === null ? '' : app.channels, app.channels === null ? '–' : undefined);
    setCount('count-messages', s.messages.per_second, perSecond(s.messages));
    $('sub-messages').textContent = s.messages.total + ' total';
    setCount('count-api', s.api_requests.per_second, perSecond(s.api_requests));
    $('sub-api').textContent = s.api_requests.total + ' total';
    setCount('count-webhooks', s.webhooks.total);
    $('sub-webhooks').textContent = s.webhook_retries.total + ' retries · ' + s.webhook_failures.total + ' dropped';
    setCount('count-errors', s.errors.total);
  }

  function refreshChannels(fresh) {
    var app = selectedApp();
    if (!app) return;
    api('api/channels?app=' + encodeURIComponent(app) + (fresh ? '&fresh=1' : '')).then(function (body) {
      if (body.app !== selectedApp()) return;
      var tbody = $('channels').tBodies[0];
      tbody.textContent = '';
      body.channels.forEach(function (c) {
        var tr = document.createElement('tr');
        tr.dataset.channel = c.name;
        tr.dataset.subscriptions = String(c.subscriptions);
        var name = document.createElement('td');
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'link';
        b.title = 'Show this channel in the console';
        b.textContent = c.name;
        b.addEventListener('click', function () {
          $('filter-channel').value = c.name;
          filtersChanged();
        });
        name.appendChild(b);
        tr.appendChild(name);
        tr.appendChild(cell(String(c.subscriptions)));
        tr.appendChild(cell(c.users === undefined ? '–' : String(c.users)));
        tbody.appendChild(tr);
      });
      $('channels-total').textContent = '(' + body.total + ')';
      setCount('count-channels', body.total);
      $('channels-note').textContent = body.total === 0 ? 'No occupied channel.'
        : body.truncated ? 'The ' + body.channels.length + ' busiest of ' + body.total + '.' : '';
    }, function () { /* shown by the overview's state */ });
  }

  function cell(text) {
    var td = document.createElement('td');
    td.textContent = text;
    return td;
  }

  // ---- the console ----

  function streamURL() {
    var q = ['token=' + encodeURIComponent(token)];
    var app = $('filter-app').value;
    var channel = $('filter-channel').value.trim();
    var kind = $('filter-kind').value;
    if (app) q.push('app=' + encodeURIComponent(app));
    if (channel) q.push('channel=' + encodeURIComponent(channel));
    if (kind) q.push('kind=' + encodeURIComponent(kind));
    return 'api/events?' + q.join('&');
  }

  function connectStream() {
    if (!token) return;
    if (source) source.close();
    setLive('connecting');
    // What the console shows, for people reading the DOM (and tests).
    var list = $('console');
    list.dataset.filterApp = $('filter-app').value;
    list.dataset.filterChannel = $('filter-channel').value.trim();
    list.dataset.filterKind = $('filter-kind').value;
    var es = new EventSource(streamURL());
    source = es;
    es.onopen = function () {
      if (source === es) setLive(paused ? 'paused' : 'live');
    };
    es.onerror = function () {
      if (source !== es) return;
      // The browser reconnects by itself (sending Last-Event-ID) unless
      // the answer was not a stream (401, 503): then the overview's timer
      // checks the token and opens a new one.
      setLive(es.readyState === 2 ? 'offline' : 'connecting');
    };
    es.onmessage = function (e) {
      if (source !== es) return;
      var o;
      try {
        o = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      if (paused) {
        if (pending.length < MAX_PENDING) pending.push(o);
        else pendingDropped++;
        $('pause').textContent = 'Resume (' + (pending.length + pendingDropped) + ' new)';
        return;
      }
      addRow(o);
    };
    es.addEventListener('dropped', function (e) {
      if (source !== es) return;
      try {
        streamDropped += JSON.parse(e.data).dropped;
      } catch (err) {
        return;
      }
      note();
    });
  }

  function note() {
    var parts = [];
    if (streamDropped) parts.push(streamDropped + ' events were dropped because this page did not keep up.');
    if (pendingDropped) parts.push(pendingDropped + ' events were dropped while paused (at most ' + MAX_PENDING + ' are kept).');
    $('console-note').textContent = parts.join(' ');
  }

  function pad(n, w) {
    var s = String(n);
    while (s.length < w) s = '0' + s;
    return s;
  }

  function clock(ms) {
    var d = new Date(ms);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }

  function span(cls, text) {
    var s = document.createElement('span');
    s.className = cls;
    s.textContent = text;
    return s;
  }

  // addRow puts o on top of the console. Everything goes in as text:
  // channel and event names come from clients.
  function addRow(o) {
    var list = $('console');
    var empty = list.querySelector('li.empty');
    if (empty) empty.remove();
    var li = document.createElement('li');
    li.className = 'kind-' + o.kind;
    li.dataset.kind = o.kind;
    if (o.app) li.dataset.app = o.app;
    if (o.channel) li.dataset.channel = o.channel;
    if (o.event) li.dataset.event = o.event;
    var t = document.createElement('time');
    t.dateTime = new Date(o.t).toISOString();
    t.textContent = clock(o.t);
    li.appendChild(t);
    li.appendChild(span('kind', o.kind.replace(/_/g, ' ')));
    if (o.app) li.appendChild(span('app', o.app));
    if (o.channel) li.appendChild(span('channel mono', o.channel));
    if (o.event) li.appendChild(span('event mono', o.event));
    var more = [];
    if (o.socket_id) more.push('socket ' + o.socket_id);
    if (o.remote) more.push('from ' + o.remote);
    if (o.method || o.path) more.push(((o.method || '') + ' ' + (o.path || '')).trim());
    if (o.code) more.push('code ' + o.code);
    // count: a publish's fan-out (absent: 0; -1: not known on this node),
    // a webhook request's events.
    if (o.kind === 'publish') {
      if (!(o.count < 0)) more.push('to ' + (o.count || 0));
    } else if (o.count > 0) {
      more.push(o.count + (o.kind.indexOf('webhook') === 0 ? ' events' : ''));
    }
    if (o.ms) more.push(o.ms >= 1000 ? (o.ms / 1000).toFixed(1) + ' s' : o.ms + ' ms');
    if (o.detail) more.push(o.detail);
    if (more.length) li.appendChild(span('more', more.join(' · ')));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_ROWS) list.removeChild(list.lastChild);
  }

  function clearConsole() {
    var list = $('console');
    list.textContent = '';
    var li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'Waiting for activity…';
    list.appendChild(li);
    pending = [];
    pendingDropped = 0;
    streamDropped = 0;
    note();
    if (paused) $('pause').textContent = 'Resume (0 new)';
  }

  function filtersChanged() {
    clearConsole();
    connectStream(); // the server filters, and sends what it kept that matches
  }

  function togglePause() {
    paused = !paused;
    var b = $('pause');
    b.setAttribute('aria-pressed', String(paused));
    if (paused) {
      b.textContent = 'Resume (0 new)';
      setLive('paused');
      return;
    }
    b.textContent = 'Pause';
    var shown = pending;
    pending = [];
    shown.forEach(addRow);
    note();
    pendingDropped = 0;
    if (source && source.readyState === 1) setLive('live');
  }

  function setLive(state, detail) {
    var el = $('live');
    el.dataset.state = state;
    el.textContent = state;
    el.title = detail || '';
  }

  // ---- wiring ----

  function init() {
    takeTokenFromHash();
    $('login-form').addEventListener('submit', function (e) {
      e.preventDefault();
      var t = $('token-input').value.trim();
      if (!t) return;
      try { sessionStorage.setItem(TOKEN_KEY, t); } catch (err) { /* kept in memory only */ }
      $('token-input').value = '';
      unlock(t);
    });
    $('app').addEventListener('change', function () {
      var app = apps.find(function (a) { return a.id === selectedApp(); });
      if (app) showCounts(app);
      $('channels').tBodies[0].textContent = '';
      refreshChannels(true);
    });
    $('filter-app').addEventListener('change', filtersChanged);
    $('filter-kind').addEventListener('change', filtersChanged);
    $('filter-channel').addEventListener('input', function () {
      clearTimeout(channelTimer);
      channelTimer = setTimeout(filtersChanged, 300);
    });
    $('filters').addEventListener('submit', function (e) { e.preventDefault(); });
    $('pause').addEventListener('click', togglePause);
    $('clear').addEventListener('click', clearConsole);
    $('channels-refresh').addEventListener('click', function () { refreshChannels(true); });
    clearConsole();
    var t = storedToken();
    if (t) unlock(t);
    else lock('');
  }

  init();
})();
