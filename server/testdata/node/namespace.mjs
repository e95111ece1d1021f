// A socket.io-client 4.8 session against namespaces, for the Go tests of
// package server.
//
//   node namespace.mjs <url> <transports>
//
// Over one multiplexed connection it connects to "/" and "/chat", calls
// "echo" on "/chat" with an ack, asks "/chat" for binary data, tries
// "/nope", which must be refused, then disconnects "/" and connects it
// again over the same connection while "/chat" stays connected.
// It prints one JSON line per step and exits 0 when every step passed.
import { io, Manager } from "socket.io-client";

const [url, transports] = process.argv.slice(2);
const out = (step, data) => console.log(JSON.stringify({ step, data }));
const fail = (msg) => {
  out("error", String(msg));
  process.exit(1);
};
setTimeout(() => fail("timeout"), 20000).unref();

const manager = new Manager(url, { transports: transports.split(","), reconnection: false });
const root = manager.socket("/");
const chat = manager.socket("/chat", { auth: { name: "ada" } });
const connected = (s) =>
  new Promise((resolve, reject) => {
    s.once("connect", resolve);
    s.once("connect_error", reject);
  });

try {
  await Promise.all([connected(root), connected(chat)]);
  out("connected", { root: root.id, chat: chat.id, same: root.io === chat.io });
  out("echo", await chat.timeout(10000).emitWithAck("echo", "hi"));
  const nope = manager.socket("/nope");
  try {
    await connected(nope);
    fail("/nope connected");
  } catch (err) {
    out("nope", err.message);
  }
  const blob = new Promise((resolve) => chat.once("blob", resolve));
  await chat.timeout(10000).emitWithAck("blob");
  out("blob", Array.from(new Uint8Array(await blob)));
  root.disconnect();
  // The library (zishang520/socket.io v3.0.6) handles a DISCONNECT on the
  // socket's own goroutine, after the CONNECT that follows it in the same
  // payload: that CONNECT finds "/" still connected and the connection
  // closes ("invalid state"). Give the DISCONNECT time to land first.
  await new Promise((resolve) => setTimeout(resolve, 200));
  root.connect();
  await connected(root);
  out("rejoined", {
    same: root.io === chat.io,
    chat: chat.connected,
    echo: await chat.timeout(10000).emitWithAck("echo", "again"),
  });
  root.disconnect();
  chat.disconnect();
  process.exit(0);
} catch (err) {
  fail(err && err.message ? err.message : err);
}
