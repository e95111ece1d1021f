// The Node reference for the benchmarks: what a team would otherwise run.
// It serves the example app's HTTP API (example/README.md) and socket protocol
// (the protocol table of docs/protocol.md) with express, socket.io 4.8 and Sequelize hooks on in-memory SQLite,
// in the style of the reference system (Etherial's Reactive module): a
// model's afterCreate/afterUpdate/afterDestroy hook emits the row to its
// target rooms.
//
//   node server.js --addr 127.0.0.1:8081 [--emit aftercommit|hook] [--redis URL] [--recovery]
//
// --redis redis://127.0.0.1:6379 makes the process one node of a cluster on
// that Redis through @socket.io/redis-streams-adapter (default stream and
// channel names, the ones server/redisbroker uses), with connection state
// recovery on, as the Go example runs in a cluster. --recovery turns
// connection state recovery on without Redis (the in-memory adapter), for
// the one-node reference of bench/cluster.sh.
//
// --emit hook (the reference's own style) emits inside the hook, so a row
// created in a transaction that later rolls back has already been sent.
// --emit aftercommit (default, the fair comparison) defers the emit to
// transaction.afterCommit when the hook runs inside a transaction.
//
// JWT secret from JWT_SECRET (HS256, claim id, exp 1 h), as the Go example.

import http from 'node:http';
import express from 'express';
import jwt from 'jsonwebtoken';
import { Server } from 'socket.io';
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-streams-adapter';
import { Sequelize, DataTypes } from 'sequelize';

function parseArgs(argv) {
  const args = { addr: '127.0.0.1:8081', emit: 'aftercommit', redis: '', recovery: false, db: ':memory:' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--recovery' || argv[i] === '-recovery') {
      args.recovery = true;
      continue;
    }
    const [k, v] = argv[i].includes('=') ? argv[i].split('=', 2) : [argv[i], argv[i + 1]];
    if (!argv[i].includes('=')) i++;
    if (k === '--addr' || k === '-addr') args.addr = v;
    else if (k === '--emit' || k === '-emit') args.emit = v;
    else if (k === '--redis' || k === '-redis') args.redis = v;
    else if (k === '--db' || k === '-db') args.db = v;
    else throw new Error(`unknown flag ${k}`);
  }
  if (!['aftercommit', 'hook'].includes(args.emit)) throw new Error('--emit must be aftercommit or hook');
  return args;
}

const args = parseArgs(process.argv.slice(2));
const secret = process.env.JWT_SECRET || 'dev-secret-do-not-use';
if (!process.env.JWT_SECRET) console.warn('WARNING: JWT_SECRET unset, using an insecure dev default');

// ---------------------------------------------------------------- database

// --db: the SQLite file, or ':memory:' (the default).
const sequelize = new Sequelize({ dialect: 'sqlite', storage: args.db, logging: false });
const ts = { timestamps: true, createdAt: 'created_at', updatedAt: 'updated_at', underscored: true };

const User = sequelize.define('User', {
  id: { type: DataTypes.INTEGER, primaryKey: true },
}, { tableName: 'users', timestamps: false });

const Notification = sequelize.define('Notification', {
  id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
  message: { type: DataTypes.STRING, allowNull: false, validate: { notEmpty: true } },
}, { ...ts, updatedAt: false, tableName: 'notifications' });

const Conversation = sequelize.define('Conversation', {
  id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
}, { ...ts, tableName: 'conversations' });

const Member = sequelize.define('Member', {
  conversation_id: { type: DataTypes.INTEGER, primaryKey: true },
  user_id: { type: DataTypes.INTEGER, primaryKey: true },
}, { tableName: 'conversation_members', timestamps: false });

const Message = sequelize.define('Message', {
  id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
  conversation_id: { type: DataTypes.INTEGER, allowNull: false },
  sender_id: { type: DataTypes.INTEGER, allowNull: false },
  recipient_id: { type: DataTypes.INTEGER, allowNull: false },
  text: { type: DataTypes.STRING, allowNull: false, validate: { notEmpty: true } },
}, { ...ts, tableName: 'messages' });

// One shared connection backs ':memory:' in Sequelize's SQLite dialect, so
// a statement issued while a transaction is open would join it. Writes go
// through one queue, as a team would do after meeting that bug.
let writeChain = Promise.resolve();
function serialized(fn) {
  const run = writeChain.then(fn, fn);
  writeChain = run.catch(() => {});
  return run;
}

// ---------------------------------------------------------------- sockets

const app = express();
app.use(express.json({ limit: '1mb' }));
const httpServer = http.createServer(app);
// In a cluster (--redis), broadcasts go through the Redis stream and the
// sessions of dropped sockets are kept in Redis, as with server/redisbroker.
let redisClient = null;
const ioOpts = { serveClient: false };
if (args.redis) {
  redisClient = createClient({ url: args.redis });
  redisClient.on('error', (err) => console.error('redis:', err.message));
  await redisClient.connect();
  ioOpts.adapter = createAdapter(redisClient);
}
if (args.redis || args.recovery) ioOpts.connectionStateRecovery = { maxDisconnectionDuration: 2 * 60 * 1000 };
const io = new Server(httpServer, ioOpts);

// reactive registers the reference-style hooks: target(row) returns the
// rooms that hear about the change.
function reactive(model, targets) {
  const emit = (action, row, options) => {
    const target = targets[action];
    if (!target) return;
    const rooms = target(row);
    if (!rooms || rooms.length === 0) return;
    const send = () => {
      const event = { action, model: model.name, id: row.id, data: row.toJSON(), timestamp: Date.now() };
      if (action === 'update') event.changed = row.changed() || [];
      io.to(rooms).emit('reactive', event);
    };
    if (args.emit === 'aftercommit' && options && options.transaction) options.transaction.afterCommit(send);
    else send();
  };
  model.addHook('afterCreate', (row, options) => emit('create', row, options));
  model.addHook('afterUpdate', (row, options) => emit('update', row, options));
  model.addHook('afterDestroy', (row, options) => emit('delete', row, options));
}

reactive(Notification, { create: () => ['users'] });
reactive(Message, {
  create: (m) => [`user_${m.recipient_id}`],
  update: (m) => [`conversation_${m.conversation_id}`],
  delete: (m) => [`conversation_${m.conversation_id}`],
});

function userFromToken(token) {
  if (typeof token !== 'string') return null;
  try {
    const claims = jwt.verify(token, secret, { algorithms: ['HS256'] });
    const id = claims.id ?? claims.user_id ?? claims.sub;
    return id === undefined || id === null ? null : String(id);
  } catch {
    return null;
  }
}

function authenticate(socket, userId) {
  socket.leave('guests');
  socket.join(['users', `user_${userId}`]);
  socket.data.userId = userId;
  socket.emit('authenticated', { userId, deviceId: socket.data.deviceId, socketId: socket.id });
}

io.on('connection', (socket) => {
  const auth = socket.handshake.auth || {};
  socket.data.deviceId = typeof auth.device_id === 'string' ? auth.device_id : null;
  socket.join(['all', 'guests']);
  if (socket.data.deviceId) socket.join(`device_${socket.data.deviceId}`);
  socket.emit('connected', { socketId: socket.id, deviceId: socket.data.deviceId, timestamp: Date.now() });
  const pre = userFromToken(auth.token);
  if (pre) authenticate(socket, pre);

  socket.on('auth', (token, ack) => {
    const userId = userFromToken(token);
    if (!userId) {
      if (typeof ack === 'function') ack({ success: false, error: 'Invalid token' });
      return;
    }
    authenticate(socket, userId);
    if (typeof ack === 'function') ack({ success: true });
  });
  socket.on('deauth', (ack) => {
    for (const room of socket.rooms) if (room !== socket.id && room !== 'all') socket.leave(room);
    socket.join('guests');
    socket.data.userId = null;
    socket.emit('deauthenticated', { socketId: socket.id, reason: 'deauth' });
    if (typeof ack === 'function') ack({ success: true });
  });
  socket.on('join', async (room, ack) => {
    const reply = typeof ack === 'function' ? ack : () => {};
    const m = typeof room === 'string' && /^conversation_(\d+)$/.exec(room);
    if (!m || !socket.data.userId) return reply({ success: false, error: 'forbidden' });
    const member = await Member.findOne({ where: { conversation_id: Number(m[1]), user_id: Number(socket.data.userId) } });
    if (!member) return reply({ success: false, error: 'forbidden' });
    socket.join(room);
    reply({ success: true });
  });
  socket.on('leave', (room, ack) => {
    if (typeof room === 'string' && /^conversation_\d+$/.test(room)) socket.leave(room);
    if (typeof ack === 'function') ack({ success: true });
  });
});

// ---------------------------------------------------------------- HTTP API

const bad = (res, status, error) => res.status(status).json({ error });
const isID = (v) => Number.isSafeInteger(v) && v > 0;

function bearer(req, res, next) {
  const h = req.get('authorization') || '';
  const userId = h.startsWith('Bearer ') ? userFromToken(h.slice(7)) : null;
  if (!userId) return bad(res, 401, 'unauthorized');
  req.userId = Number(userId);
  next();
}

async function checkMessage(item, senderId) {
  if (!item || typeof item !== 'object') return 'message must be an object';
  const { conversation_id: c, recipient_id: r, text } = item;
  if (!isID(c) || !isID(r)) return 'conversation_id and recipient_id must be positive integers';
  if (typeof text !== 'string') return 'text must be a string';
  const members = await Member.findAll({ where: { conversation_id: c } });
  const ids = new Set(members.map((m) => m.user_id));
  if (!ids.has(senderId)) return 'not a member of the conversation';
  if (!ids.has(r)) return 'recipient is not a member of the conversation';
  return null;
}

app.post('/api/login', async (req, res) => {
  const id = req.body && req.body.user_id;
  if (!isID(id)) return bad(res, 400, 'user_id must be a positive integer');
  await serialized(() => User.findOrCreate({ where: { id } }));
  const token = jwt.sign({ id }, secret, { algorithm: 'HS256', expiresIn: '1h' });
  res.json({ token });
});

app.post('/api/notifications', async (req, res) => {
  const message = req.body && req.body.message;
  if (typeof message !== 'string' || message === '') return bad(res, 400, 'message must be a non-empty string');
  const row = await serialized(() => Notification.create({ message }));
  res.status(201).json(row);
});

app.get('/api/notifications', async (_req, res) => {
  res.json(await Notification.findAll({ order: [['id', 'DESC']], limit: 50 }));
});

app.post('/api/conversations', bearer, async (req, res) => {
  const ids = req.body && req.body.member_ids;
  if (!Array.isArray(ids) || !ids.every(isID)) return bad(res, 400, 'member_ids must be an array of user ids');
  const members = [...new Set([req.userId, ...ids])];
  const conv = await serialized(async () => {
    const known = await User.count({ where: { id: members } });
    if (known !== members.length) return null;
    return sequelize.transaction(async (transaction) => {
      const c = await Conversation.create({}, { transaction });
      await Member.bulkCreate(members.map((user_id) => ({ conversation_id: c.id, user_id })), { transaction });
      return c;
    });
  });
  if (!conv) return bad(res, 400, 'unknown user in member_ids');
  res.status(201).json({ id: conv.id });
});

app.post('/api/messages', bearer, async (req, res) => {
  const problem = await checkMessage(req.body, req.userId);
  if (problem) return bad(res, problem.startsWith('not a member') ? 403 : 400, problem);
  const { conversation_id, recipient_id, text } = req.body;
  try {
    const row = await serialized(() => Message.create({ conversation_id, recipient_id, text, sender_id: req.userId }));
    res.status(201).json(row);
  } catch (err) {
    bad(res, 400, err.message);
  }
});

app.get('/api/messages', bearer, async (req, res) => {
  const c = Number(req.query.conversation_id);
  if (!isID(c)) return bad(res, 400, 'conversation_id must be a positive integer');
  if (!(await Member.findOne({ where: { conversation_id: c, user_id: req.userId } }))) return bad(res, 403, 'forbidden');
  res.json(await Message.findAll({ where: { conversation_id: c }, order: [['id', 'ASC']] }));
});

async function ownMessage(req, res) {
  const id = Number(req.params.id);
  if (!isID(id)) return bad(res, 400, 'bad id'), null;
  const row = await Message.findByPk(id);
  if (!row) return bad(res, 404, 'not found'), null;
  if (row.sender_id !== req.userId) return bad(res, 403, 'forbidden'), null;
  return row;
}

app.patch('/api/messages/:id', bearer, async (req, res) => {
  const text = req.body && req.body.text;
  if (typeof text !== 'string') return bad(res, 400, 'text must be a string');
  const row = await ownMessage(req, res);
  if (!row) return;
  try {
    await serialized(() => row.update({ text }));
    res.json(row);
  } catch (err) {
    bad(res, 400, err.message);
  }
});

app.delete('/api/messages/:id', bearer, async (req, res) => {
  const row = await ownMessage(req, res);
  if (!row) return;
  await serialized(() => row.destroy());
  res.status(204).end();
});

// The batch is one transaction: each row is created in turn (its hook runs
// then), and a row that fails validation rolls back the rows before it.
app.post('/api/messages/batch', bearer, async (req, res) => {
  const items = req.body;
  if (!Array.isArray(items) || items.length === 0) return bad(res, 400, 'body must be a non-empty array');
  for (const item of items) {
    const problem = await checkMessage(item, req.userId);
    if (problem) return bad(res, 422, problem);
  }
  try {
    const rows = await serialized(() => sequelize.transaction(async (transaction) => {
      const out = [];
      for (const { conversation_id, recipient_id, text } of items) {
        out.push(await Message.create({ conversation_id, recipient_id, text, sender_id: req.userId }, { transaction }));
      }
      return out;
    }));
    res.status(201).json(rows);
  } catch (err) {
    bad(res, 422, err.message);
  }
});

app.use((err, _req, res, _next) => {
  const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400;
  bad(res, status, err.type === 'entity.parse.failed' ? 'invalid JSON' : String(err.message || err));
});

// ---------------------------------------------------------------- start

await sequelize.sync();
const [host, port] = [args.addr.slice(0, args.addr.lastIndexOf(':')), Number(args.addr.slice(args.addr.lastIndexOf(':') + 1))];
httpServer.listen(port, host, () => console.log(`node baseline listening on http://${args.addr} (emit: ${args.emit}${args.redis ? ', cluster on ' + args.redis : ''}${ioOpts.connectionStateRecovery ? ', recovery' : ''})`));
const stop = () => {
  io.close();
  if (redisClient) redisClient.quit().catch(() => {});
  httpServer.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
