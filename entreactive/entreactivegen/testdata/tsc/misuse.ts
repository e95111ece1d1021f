// Misuses of ent/reactive.ts that tsc must refuse: go test checks that
// type-checking this file fails with exactly the errors marked "want".
import { onReactive, type ReactiveSocket } from "../../../../ent/reactive";

declare const socket: ReactiveSocket;

onReactive(socket, (event) => {
  console.log(event.data.text); // want TS2339: Notification data has no text
  if (event.model === "Notification") {
    const n: number = event.data.message; // want TS2322: message is a string
    console.log(n, event.changed); // want TS2339: only updates have changed
  }
  if (event.model === "Message" && event.action === "update") {
    const changed: "password_hash"[] = event.changed; // want TS2322: changed lists Message fields only
    console.log(changed, event.data.created_at.getTime()); // want TS2339: times are strings
  }
  if (event.model === "Mesage") { // want TS2367: no such model
    console.log(event);
  }
});
socket.emit("auth", 42); // want TS2345: a token is a string
