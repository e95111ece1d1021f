// Connection state recovery with socket.io-client 4.8, for the Go tests of
// package server.
//
//   node recover.mjs <url> <token>
//
// Prints one JSON line per step. Reads commands from stdin: "drop" closes
// the transport as a network failure would (the client reconnects by
// itself, with its pid and last offset), "done" prints the notes received
// and exits.
import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const [url, token] = process.argv.slice(2);
const out = (step, data) => console.log(JSON.stringify({ step, data }));
setTimeout(() => {
  out("error", "timeout");
  process.exit(1);
}, 20000).unref();

const socket = io(url, {
  transports: ["websocket"],
  auth: { token },
  reconnectionDelay: 500,
  reconnectionDelayMax: 500,
});
const notes = [];
socket.on("note", (n) => {
  notes.push(n);
  out("note", n);
});
socket.on("connect", () => out("connect", { id: socket.id, recovered: socket.recovered }));
socket.on("disconnect", (reason) => out("disconnect", reason));

const stdin = createInterface({ input: process.stdin });
stdin.on("line", (cmd) => {
  if (cmd === "drop") {
    socket.io.engine.close();
  } else if (cmd === "done") {
    out("notes", notes);
    socket.disconnect();
    stdin.close();
  }
});
