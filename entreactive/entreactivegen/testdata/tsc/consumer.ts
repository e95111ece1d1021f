// A client of the example's events, written against ent/reactive.ts as a
// user writes one: go test type-checks it with tsc --noEmit.
import { io } from "socket.io-client";
import {
  isModel,
  onModel,
  onReactive,
  type MessageData,
  type MessageField,
  type ReactiveEvent,
  type ReactiveEventOf,
  type ReactiveSocket,
} from "../../../../ent/reactive";

// The README's "Typed clients" lines (a test checks they are the same),
// with React's useEffect declared here.
declare function useEffect(effect: () => void | (() => void), deps: unknown[]): void;
declare function setText(text: string): void;
declare const token: string;

const socket: ReactiveSocket = io("http://your-api.com", { auth: { token } });
useEffect(() => onReactive(socket, (e) => {
  if (e.model === "Message" && e.action === "update") setText(e.data.text); // e.changed: MessageField[]
}), []);

// The protocol's own events are typed too.
socket.emit("auth", token, (answer) => {
  if (!answer.success) {
    console.error(answer.error.toUpperCase());
  }
});
socket.emit("join", "conversation_1");
socket.on("authenticated", ({ userId, deviceId }) => {
  console.log(typeof userId === "number" ? userId.toFixed(0) : userId, deviceId ?? "no device");
});
socket.on("deauthenticated", ({ reason }) => {
  const why: "deauth" | "expired" = reason;
  console.log(why);
});

// Narrowing on model and action reaches each schema's fields.
function describe(event: ReactiveEvent): string {
  switch (event.model) {
    case "Message": {
      const m: MessageData = event.data;
      const when: Date = new Date(m.created_at);
      if (event.action === "update") {
        const changed: MessageField[] = event.changed;
        return `message ${event.id} in ${m.conversation_id}: ${changed.join(",")} at ${when.toISOString()}`;
      }
      return `message ${event.action} ${m.text.length}`;
    }
    case "Notification":
      return `${event.action} ${event.data.message} ${event.timestamp.toFixed(0)}`;
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

const stopAll = onReactive(socket, (event) => console.log(describe(event)));
const stopMessages = onModel(socket, "Message", (event) => {
  const id: number = event.id;
  const sender: number = event.data.sender_id;
  const edges = event.data.edges;
  console.log(id, sender, edges?.sender === undefined ? "sender not loaded" : "sender loaded");
});
function onDeletes(event: ReactiveEvent): void {
  if (isModel(event, "Message") && event.action === "delete") {
    const deleted: ReactiveEventOf<"Message", "delete"> = event;
    console.log(deleted.data.text);
  }
}
socket.on("reactive", onDeletes);
stopAll();
stopMessages();
