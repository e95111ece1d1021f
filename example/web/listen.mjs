// A command-line Socket.IO client for the example app: it logs in, joins
// rooms and prints every event it receives, one JSON line each.
//
//   node example/web/listen.mjs [--url http://127.0.0.1:8080] [--user N | --token JWT]
//                               [--join ROOM]... [--transports polling,websocket]
//                               [--count N] [--timeout SECONDS] [--stdin] [--reconnect]
//
// --user N logs in as user N with POST /api/login; --token uses a token you
// already have; with neither, the client stays a guest. Lines look like
//
//   {"step":"connected","data":{"socketId":"…","deviceId":null,"timestamp":…}}
//   {"step":"auth","data":{"success":true}}
//   {"step":"join","room":"conversation_1","data":{"success":true}}
//   {"step":"ready"}
//   {"step":"reactive","offset":"1767225600000-0","data":{"action":"create","model":"Notification",…}}
//
// ("offset" is there when the server has connection state recovery on.) It
// exits after --count "reactive" events, after --timeout seconds (exit code
// 1), on Ctrl-C, or, with --stdin, when its standard input closes (the Go
// tests of the example drive it that way).
//
// --reconnect lets the client reconnect by itself when its connection drops
// (after 20 to 100 ms), with connection state recovery as socket.io-client
// does it: it prints {"step":"disconnect",…}, {"step":"reconnect_attempt",
// "at":ms,"pid":…,"offset":…,"stale":n} when it dials again, then
// {"step":"reconnect","data":{"recovered":true|false,"id":…,"transport":…}}.
// A drop without it ends the client (exit code 1). With --stdin, the line
// "cut" closes the connection under the client, as a network failure would
// (socket.io.engine.close()); it prints {"step":"cut","at":ms}. With the
// environment variable LISTEN_TRACE set, it prints each message packet it
// receives too: {"step":"trace","transport":…,"eid":…,"data":"2[…"}.
import { io } from "socket.io-client";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  options: {
    url: { type: "string", default: "http://127.0.0.1:8080" },
    user: { type: "string" },
    token: { type: "string" },
    join: { type: "string", multiple: true, default: [] },
    transports: { type: "string", default: "polling,websocket" },
    count: { type: "string", default: "0" },
    timeout: { type: "string", default: "0" },
    stdin: { type: "boolean", default: false },
    reconnect: { type: "boolean", default: false },
  },
});

const out = (step, data, extra = {}) =>
  console.log(JSON.stringify(data === undefined ? { step, ...extra } : { step, ...extra, data }));
const fail = (msg) => {
  out("error", String(msg));
  process.exit(1);
};

const timeout = Number(opts.timeout);
if (timeout > 0) setTimeout(() => fail(`timeout after ${timeout}s`), timeout * 1000).unref();
const wanted = Number(opts.count);

async function login(user) {
  const res = await fetch(new URL("/api/login", opts.url), {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user_id: Number(user) }),
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`login: ${res.status} ${body.error}`);
  return body.token;
}

let token = opts.token;
try {
  if (!token && opts.user) token = await login(opts.user);
} catch (err) {
  fail(err.message);
}

const socket = io(opts.url, {
  transports: opts.transports.split(","),
  reconnection: opts.reconnect,
  reconnectionDelay: 20,
  reconnectionDelayMax: 100,
});
const next = (event) => new Promise((resolve) => socket.once(event, resolve));
const ack = (event, ...args) => socket.timeout(10000).emitWithAck(event, ...args);

let received = 0;
socket.on("reactive", (ev, offset) => {
  out("reactive", ev, typeof offset === "string" ? { offset } : {});
  if (wanted > 0 && ++received >= wanted) {
    socket.disconnect();
    process.exit(0);
  }
});
let ready = false;
socket.on("connect_error", (err) => {
  // Reconnecting, an attempt that fails is followed by another.
  if (opts.reconnect && ready) out("connect_error", err.message);
  else fail("connect_error: " + err.message);
});
socket.on("disconnect", (reason) => {
  out("disconnect", reason);
  // The server's or our own disconnect is final: the client does not
  // reconnect after it.
  if (!opts.reconnect || reason === "io server disconnect") {
    if (reason !== "io client disconnect") process.exit(1);
  }
});
if (process.env.LISTEN_TRACE) {
  socket.io.on("open", () => {
    const e = socket.io.engine;
    e.on("packet", (p) => {
      if (p.type === "message") out("trace", String(p.data).slice(0, 70), { transport: e.transport.name, eid: e.id });
    });
  });
}
if (opts.reconnect) {
  // socket.io-client (4.8) hands each decoded packet to its socket on the
  // next tick: the events of a connection that closes as they arrive reach
  // the socket after its "disconnect", wait in its receive buffer, and are
  // emitted at the next connect, before the recovery replay sends them
  // again (the offset the client sent back is before them, as they were not
  // emitted): a repeat and an inversion. Drop them as the client dials
  // again: the replay brings them, in order. "stale" says how many; "pid"
  // and "offset" are what the client sends back (socket.io-client's own
  // fields), for the log of a failed recovery.
  socket.io.on("reconnect_attempt", (n) => {
    const stale = socket.receiveBuffer.length;
    socket.receiveBuffer = [];
    out("reconnect_attempt", n, { at: Date.now(), pid: socket._pid, offset: socket._lastOffset, stale });
  });
  socket.on("connect", () => {
    if (ready) out("reconnect", { recovered: socket.recovered, id: socket.id, transport: socket.io.engine.transport.name });
  });
}
process.on("SIGINT", () => {
  socket.disconnect();
  process.exit(0);
});
if (opts.stdin) {
  let buffered = "";
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk) => {
    const lines = (buffered + chunk).split("\n");
    buffered = lines.pop();
    for (const line of lines) {
      if (line.trim() !== "cut") continue;
      out("cut", undefined, { at: Date.now() });
      socket.io.engine?.close();
    }
  });
  process.stdin.on("end", () => {
    socket.disconnect();
    process.exit(0);
  });
}

try {
  out("connected", await next("connected"));
  if (token) {
    const authenticated = next("authenticated");
    const res = await ack("auth", token);
    out("auth", res);
    if (!res.success) fail("auth refused");
    out("authenticated", await authenticated);
  }
  for (const room of opts.join) {
    out("join", await ack("join", room), { room });
  }
  ready = true;
  out("ready", undefined, { transport: socket.io.engine.transport.name });
} catch (err) {
  fail(err);
}
