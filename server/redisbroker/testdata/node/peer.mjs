// A Node socket.io 4.8 server with @socket.io/redis-streams-adapter 0.3,
// plus socket.io-client 4.8 clients of it, driven by the Go tests of package
// redisbroker.
//
//   node peer.mjs '<json config>'
//
// config: {redis, streamName, streamCount, channelPrefix, sessionKeyPrefix,
// ttlMs}.
// The script prints one JSON line per event on stdout ({step, ...}) and
// reads one JSON command per line on stdin ({cmd, seq, ...}); every command
// is answered by {step: "done", seq, result} or {step: "failed", seq, error}.
// It exits when stdin closes.
import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-streams-adapter";
import { io as connect } from "socket.io-client";

const config = JSON.parse(process.argv[2]);
const out = (step, data) => console.log(JSON.stringify({ step, ...data }));

const redis = createClient({ url: config.redis });
redis.on("error", (err) => out("redis-error", { error: String(err) }));
await redis.connect();

const httpServer = createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(redis, {
    streamName: config.streamName,
    streamCount: config.streamCount,
    channelPrefix: config.channelPrefix,
    sessionKeyPrefix: config.sessionKeyPrefix,
    blockTimeInMs: 1000,
  }),
  connectionStateRecovery: { maxDisconnectionDuration: config.ttlMs, skipMiddlewares: true },
});

// Events of the cluster for this server: plain, and with an acknowledgement.
io.on("hello", (...args) => out("server-side-emit", { args }));
io.on("ask", (arg, ack) => {
  out("server-side-emit", { args: [arg] });
  ack(`node got ${arg}`);
});

io.on("connection", (socket) => {
  if (!socket.recovered) {
    socket.data = socket.handshake.auth.data ?? {};
    socket.join(socket.handshake.auth.rooms ?? []);
  }
  out("connection", { id: socket.id, recovered: socket.recovered, rooms: [...socket.rooms], data: socket.data });
  socket.on("disconnect", (reason) => out("disconnect", { id: socket.id, reason }));
  socket.on("question", (arg, ack) => ack(`answer to ${arg}`));
});

await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
const url = `http://127.0.0.1:${httpServer.address().port}`;
const uid = io.of("/").adapter.uid;

const clients = new Map();

function startClient({ name, auth, pid, offset }) {
  const socket = connect(url, { transports: ["websocket"], reconnection: false, autoConnect: false, auth });
  if (pid) {
    // The previous connection of this client was on another server (a Go
    // node): set what socket.io-client kept of it, and reconnect.
    socket._pid = pid;
    socket._lastOffset = offset;
  }
  socket.onAny((event, ...args) => {
    out("client-event", { name, event, args: args.map((a) => (Buffer.isBuffer(a) ? { buffer: [...a] } : a)) });
  });
  socket.on("question-from-go", (arg, ack) => ack(`client ${name} got ${arg}`));
  clients.set(name, socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () =>
      resolve({ id: socket.id, recovered: socket.recovered, pid: socket._pid ?? null }),
    );
    socket.once("connect_error", reject);
    socket.connect();
  });
}

function target(c) {
  let op = io.to(c.rooms ?? []);
  if (c.except) op = op.except(c.except);
  if (c.volatile) op = op.volatile;
  return op;
}

const args = (list) => (list ?? []).map((a) => (a && a.buffer ? Buffer.from(a.buffer) : a));

const commands = {
  client: (c) => startClient(c),
  // Closes the client's transport: the server sees "transport close" and
  // persists the session.
  drop: (c) => {
    const socket = clients.get(c.name);
    const state = { pid: socket._pid, offset: socket._lastOffset };
    socket.io.engine.close();
    return state;
  },
  broadcast: (c) => {
    target(c).emit(c.event, ...args(c.args));
    return null;
  },
  // A broadcast to every socket of another namespace.
  namespaceBroadcast: (c) => {
    io.of(c.nsp).emit(c.event, ...args(c.args));
    return null;
  },
  broadcastWithAck: async (c) => target(c).timeout(c.timeout ?? 3000).emitWithAck(c.event, ...args(c.args)),
  join: (c) => target(c).socketsJoin(c.join),
  leave: (c) => target(c).socketsLeave(c.leave),
  disconnect: (c) => target(c).disconnectSockets(c.close),
  fetch: async (c) =>
    (await target(c).fetchSockets()).map((s) => ({ id: s.id, rooms: [...s.rooms], data: s.data, handshake: s.handshake })),
  serverSideEmit: (c) => io.serverSideEmit(c.event, ...args(c.args)),
  serverSideEmitWithAck: async (c) => io.serverSideEmitWithAck(c.event, ...args(c.args)),
};

const stdin = createInterface({ input: process.stdin });
stdin.on("line", async (line) => {
  const c = JSON.parse(line);
  try {
    const result = await commands[c.cmd](c);
    out("done", { seq: c.seq, result: result ?? null });
  } catch (err) {
    out("failed", { seq: c.seq, error: String(err && err.message ? err.message : err) });
  }
});
stdin.on("close", async () => {
  for (const socket of clients.values()) socket.disconnect();
  io.close();
  setTimeout(() => process.exit(0), 200).unref();
  await redis.quit().catch(() => {});
});

out("ready", { url, uid });
