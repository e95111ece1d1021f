// Many socket.io-client 4.8 clients with the library's default reconnection,
// for the Go tests of what clients see when the server goes away and comes
// back (a restart, a drain).
//
//   node restart.mjs <url> <clients> <transports> [token]
//
// transports is "default" (polling, then the upgrade to websocket),
// "websocket" or "polling". Prints one JSON line per client event:
// {"step":"connect","data":{"i":3,"id":"…","recovered":false}},
// {"step":"disconnect","data":{"i":3,"reason":"transport close"}},
// {"step":"connect_error","data":{"i":3,"message":"…"}}. Exits on "done"
// from stdin, or after 60 s.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, n, transports, token] = process.argv.slice(2);
const out = (step, data) => console.log(JSON.stringify({ step, data }));
setTimeout(() => {
  out("error", "timeout");
  process.exit(1);
}, 60000).unref();

const opts = {};
if (transports !== "default") opts.transports = [transports];
if (token) opts.auth = { token };
const sockets = [];
for (let i = 0; i < Number(n); i++) {
  // forceNew: one Engine.IO connection per client, as separate tabs have.
  const socket = io(url, { ...opts, forceNew: true });
  socket.on("connect", () => out("connect", { i, id: socket.id, recovered: socket.recovered }));
  socket.on("disconnect", (reason) => out("disconnect", { i, reason }));
  socket.on("connect_error", (err) => out("connect_error", { i, message: err.message }));
  sockets.push(socket);
}

const stdin = createInterface({ input: process.stdin });
stdin.on("line", (cmd) => {
  if (cmd === "done") {
    for (const s of sockets) s.disconnect();
    stdin.close();
  }
});
