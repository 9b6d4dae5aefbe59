// Test doubles for the client builds: a fake clock, WebSocket,
// XMLHttpRequest and uni, and a loader that runs a dist file in a fresh VM
// context wired to them. Nothing here touches the real network or timers.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');

export class FakeClock {
  constructor() {
    this.now = 0;
    this.seq = 0;
    this.timers = new Map();
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.timers.set(id, { fn, at: this.now + Math.max(0, Number(ms) || 0), id });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  // tick advances time by ms, firing due timers in order (ties by creation).
  tick(ms) {
    const end = this.now + ms;
    for (;;) {
      let next = null;
      for (const t of this.timers.values()) {
        if (t.at <= end && (next === null || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (!next) break;
      this.timers.delete(next.id);
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }

  // delays lists the pending timers' remaining delays, sorted.
  delays() {
    return [...this.timers.values()].map((t) => t.at - this.now).sort((a, b) => a - b);
  }
}

export function makeWebSocket(sockets) {
  return class FakeWebSocket {
    constructor(url) {
      this.url = url;
      this.sent = [];
      this.closed = false;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
    }

    send(s) {
      if (this.closed) throw new Error('send on closed socket');
      this.sent.push(s);
    }

    close() {
      this.closed = true;
    }

    // helpers the tests drive
    open() {
      this.onopen && this.onopen({});
    }

    receive(frame) {
      this.onmessage && this.onmessage({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
    }

    establish(socketId = '1.1', activityTimeout = 120) {
      this.open();
      this.receive({
        event: 'pusher:connection_established',
        data: JSON.stringify({ socket_id: socketId, activity_timeout: activityTimeout }),
      });
    }

    serverClose(code = 1006, reason = '') {
      this.closed = true;
      this.onclose && this.onclose({ code, reason });
    }

    fail() {
      this.onerror && this.onerror({});
      this.serverClose(1006);
    }

    frames() {
      return this.sent.map((s) => JSON.parse(s));
    }
  };
}

export function makeXHR(requests) {
  return class FakeXHR {
    constructor() {
      this.headers = {};
      this.readyState = 0;
      this.status = 0;
      this.responseText = '';
      requests.push(this);
    }

    open(method, url) {
      this.method = method;
      this.url = url;
    }

    setRequestHeader(k, v) {
      this.headers[k] = v;
    }

    send(body) {
      this.body = body;
    }

    respond(status, body) {
      this.status = status;
      this.responseText = typeof body === 'string' ? body : JSON.stringify(body);
      this.readyState = 4;
      this.onreadystatechange && this.onreadystatechange();
    }
  };
}

// load runs a dist build in a new context and returns {Push, clock,
// sockets, requests, errors, ctx}. ES-module builds get their export lines
// turned into a global assignment, the only difference from the real file.
export function load(file, extra = {}) {
  let code = readFileSync(join(dist, file), 'utf8');
  if (/\nexport default Push;\n$/.test(code)) {
    code = code.replace(/\nexport \{ Push \};\nexport default Push;\n$/, '\nglobalThis.Push = Push;\n');
  }
  const clock = new FakeClock();
  const sockets = [];
  const requests = [];
  const errors = [];
  const navigator = { onLine: true };
  const ctx = vm.createContext({
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    WebSocket: makeWebSocket(sockets),
    XMLHttpRequest: makeXHR(requests),
    navigator,
    console: { log() {}, error: (...a) => errors.push(a), warn() {} },
    ...extra,
  });
  vm.runInContext(code, ctx, { filename: file });
  return { Push: ctx.Push, clock, sockets, requests, errors, navigator, ctx };
}

// makeUni is a fake uni-app runtime recording sockets and requests.
export function makeUni() {
  const tasks = [];
  const requests = [];
  const networkListeners = [];
  const uni = {
    tasks,
    requests,
    networkListeners,
    connectSocket(opts) {
      const task = {
        url: opts.url,
        sent: [],
        closed: false,
        h: {},
        onOpen(fn) { this.h.open = fn; },
        onMessage(fn) { this.h.message = fn; },
        onClose(fn) { this.h.close = fn; },
        onError(fn) { this.h.error = fn; },
        send(o) { this.sent.push(o.data); },
        close() { this.closed = true; },
        establish(socketId = '1.1') {
          this.h.open();
          this.h.message({ data: JSON.stringify({ event: 'pusher:connection_established', data: JSON.stringify({ socket_id: socketId, activity_timeout: 120 }) }) });
        },
        receive(frame) { this.h.message({ data: JSON.stringify(frame) }); },
        frames() { return this.sent.map((s) => JSON.parse(s)); },
      };
      tasks.push(task);
      return task;
    },
    request(opts) {
      requests.push(opts);
    },
    onNetworkStatusChange(fn) {
      networkListeners.push(fn);
    },
  };
  return uni;
}
