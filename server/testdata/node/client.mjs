// A scripted socket.io-client 4.8 session for the Go tests of package server.
//
//   node client.mjs <url> <transports> <token> [device_id]
//
// transports is "polling,websocket" (upgrade) or "websocket". The script
// prints one JSON line per step on stdout and reads one line from stdin
// (any content) before waiting for the "reactive" event, so the Go side
// knows when to emit it. It exits 0 when every step passed, 1 otherwise.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, transports, token, deviceId] = process.argv.slice(2);
const out = (step, data) => console.log(JSON.stringify({ step, data }));
const fail = (msg) => {
  out("error", String(msg));
  process.exit(1);
};
setTimeout(() => fail("timeout"), 20000).unref();

const socket = io(url, {
  transports: transports.split(","),
  reconnection: false,
  auth: deviceId ? { device_id: deviceId } : {},
});
const next = (event) => new Promise((resolve) => socket.once(event, resolve));
const ack = (event, ...args) => socket.timeout(10000).emitWithAck(event, ...args);

const stdin = createInterface({ input: process.stdin });
const line = () => new Promise((resolve) => stdin.once("line", resolve));

socket.on("connect_error", (err) => fail("connect_error: " + err.message));

try {
  const connected = await next("connected");
  out("connected", connected);
  const authenticated = next("authenticated");
  out("auth-bad", await ack("auth", "not-a-token"));
  out("auth", await ack("auth", token));
  out("authenticated", await authenticated);
  const reactive = next("reactive");
  out("ready", null);
  await line();
  out("reactive", await reactive);
  out("join", await ack("join", "conversation_1"));
  out("join-forbidden", await ack("join", "users"));
  out("leave", await ack("leave", "conversation_1"));
  const deauthenticated = next("deauthenticated");
  out("deauth", await ack("deauth"));
  out("deauthenticated", await deauthenticated);
  out("transport", socket.io.engine.transport.name);
  socket.disconnect();
  stdin.close();
  out("done", null);
} catch (err) {
  fail(err);
}
