// closecode.mjs opens websockets to the server's Engine.IO endpoint with
// Node's `ws`, one after another, and prints one JSON line per connection:
// the close code and reason the client's "close" event reported, and the
// Engine.IO packets it received after the open packet.
//
// Usage: node closecode.mjs <http base URL> <mode> <count>
//
// Modes (each sends "40" after the open packet, except utf8):
//   close-1000  ws.close(1000) once "40{...}" arrives
//   close-4000  ws.close(4000, "bye") once "40{...}" arrives
//   close-none  ws.close() (no status code) once "40{...}" arrives
//   utf8        a text frame with invalid UTF-8 right after the open packet
//   wait        nothing more: the server closes the connection
import WebSocket from "ws";

const [, , base, mode, countArg] = process.argv;
const count = Number(countArg || "1");
const url = base.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";

function once() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const packets = [];
    let error = null;
    const timer = setTimeout(() => {
      error = "timeout";
      ws.terminate();
    }, 10000);
    ws.on("error", (err) => {
      error = String(err && err.message);
    });
    ws.on("message", (data, isBinary) => {
      const s = isBinary ? "<binary>" : data.toString();
      if (s.startsWith("0")) {
        if (mode === "utf8") {
          // "4" then bytes that are not UTF-8, sent as a text frame.
          ws.send(Buffer.from([0x34, 0xff, 0xfe, 0xfd]), { binary: false });
        } else {
          ws.send("40");
        }
        return;
      }
      if (s === "2") {
        ws.send("3");
        return;
      }
      packets.push(s);
      if (s.startsWith("40")) {
        if (mode === "close-1000") ws.close(1000);
        else if (mode === "close-4000") ws.close(4000, "bye");
        else if (mode === "close-none") ws.close();
      }
    });
    ws.on("close", (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString(), packets, error });
    });
  });
}

for (let i = 0; i < count; i++) {
  console.log(JSON.stringify(await once()));
}
