// Runs the helpers of the generated TypeScript module (ent/reactive.ts,
// compiled to JavaScript by the Go test) on a real socket.io-client socket:
//
//   node example/web/typed.mjs URL TOKEN path/to/reactive.js
//
// It prints one JSON line per call of a helper's handler:
//
//   {"step":"ready"}
//   {"via":"onModel","model":"Message","action":"create"}
//   {"via":"onReactive","model":"Message","action":"create"}
//
// A notification "stop" stops both helpers ({"step":"stopped"}); a
// notification "end" ends the script ({"step":"end"}).
import { io } from "socket.io-client";
import { pathToFileURL } from "node:url";

const [url, token, modulePath] = process.argv.slice(2);
const { onModel, onReactive } = await import(pathToFileURL(modulePath).href);
const print = (line) => console.log(JSON.stringify(line));

const socket = io(url, { auth: { token }, transports: ["websocket"] });
const stopMessages = onModel(socket, "Message", (e) => print({ via: "onModel", model: e.model, action: e.action }));
const stopAll = onReactive(socket, (e) => {
  print({ via: "onReactive", model: e.model, action: e.action });
  if (e.model === "Notification" && e.data.message === "stop") {
    stopMessages();
    stopAll();
    print({ step: "stopped" });
  }
});
socket.on("reactive", (e) => {
  if (e.model === "Notification" && e.data.message === "end") {
    print({ step: "end" });
    socket.close();
  }
});
socket.on("authenticated", () => print({ step: "ready" }));
socket.on("connect_error", (err) => {
  print({ step: "error", error: String(err) });
  process.exit(1);
});
setTimeout(() => {
  print({ step: "error", error: "timeout" });
  process.exit(1);
}, 60_000).unref();
