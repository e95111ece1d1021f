package redisbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// publisher sends this node's cluster messages: through the stream, or by
// pub/sub for ephemeral ones, as the Node adapter's doPublish does. It owns
// nothing; rdb is shared.
type publisher struct {
	rdb redis.Cmdable
	cfg Config
}

// publish sends m and returns its stream entry id, the offset clients get
// for a recoverable broadcast; ephemeral messages have none ("").
func (p publisher) publish(ctx context.Context, m wire.Message) (string, error) {
	if m.Ephemeral() {
		payload, err := wire.EncodePubSub(m)
		if err != nil {
			return "", err
		}
		if err := p.rdb.Publish(ctx, wire.PublicChannel(p.cfg.ChannelPrefix, m.Nsp), payload).Err(); err != nil {
			return "", fmt.Errorf("redisbroker: publish type %d: %w", m.Type(), err)
		}
		return "", nil
	}
	fields, err := wire.EntryFields(m)
	if err != nil {
		return "", err
	}
	id, err := p.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: p.cfg.streamKey(m.Nsp),
		MaxLen: p.cfg.MaxLen,
		Approx: true,
		ID:     "*",
		Values: fields,
	}).Result()
	if err != nil {
		return "", fmt.Errorf("redisbroker: xadd type %d: %w", m.Type(), err)
	}
	return id, nil
}

// onceScript adds a stream entry unless its id was published within the
// window: SET KEYS[1] 1 NX PX ARGV[1], and only when that set it, XADD
// KEYS[2] MAXLEN ~ ARGV[2] * ARGV[3...] (the entry's fields, as publish
// writes them). It returns the entry id, or nil for a repeat. Should the
// XADD fail (a key of another type), the key is deleted again, so that
// the broadcast can be published when it is tried again.
var onceScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
	return false
end
local id = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
if type(id) == 'table' and id.err then
	redis.call('DEL', KEYS[1])
end
return id
`)

// publishOnce adds m to the stream, as publish does, unless a broadcast
// published as once was within Config.OnceWindow: then it returns "" and
// no error. The check and the XADD are one script (EVALSHA, EVAL when
// Redis does not have it yet), so that of several nodes and emitters
// publishing once concurrently, one adds it. m must not be ephemeral.
func (p publisher) publishOnce(ctx context.Context, m wire.Message, once string) (string, error) {
	if m.Ephemeral() {
		return "", fmt.Errorf("redisbroker: publish type %d once: not a stream entry", m.Type())
	}
	fields, err := wire.EntryFields(m)
	if err != nil {
		return "", err
	}
	args := make([]any, 0, 2+len(fields))
	args = append(args, max(p.cfg.OnceWindow.Milliseconds(), 1), p.cfg.MaxLen)
	for _, f := range fields {
		args = append(args, f)
	}
	keys := []string{p.cfg.onceKey(once), p.cfg.streamKey(m.Nsp)}
	id, err := onceScript.Run(ctx, p.rdb, keys, args...).Text()
	if errors.Is(err, redis.Nil) {
		return "", nil // a repeat
	}
	if err != nil {
		return "", fmt.Errorf("redisbroker: xadd type %d once: %w", m.Type(), err)
	}
	return id, nil
}

// onceBatchScript is onceScript for several entries, in order, in one
// call: KEYS[1] is the stream, KEYS[2...] the entries' once keys; ARGV[1]
// and ARGV[2] the window and MAXLEN, then, for each entry, its number of
// fields and the fields. It returns {ids} ("" for a repeat), or, when an
// XADD fails, {ids so far, error}: that entry's key is deleted again and
// no later entry is added.
var onceBatchScript = redis.NewScript(`
local ids = {}
local a = 3
for i = 2, #KEYS do
	local n = tonumber(ARGV[a])
	if redis.call('SET', KEYS[i], '1', 'NX', 'PX', ARGV[1]) then
		local id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, a + 1, a + n))
		if type(id) == 'table' and id.err then
			redis.call('DEL', KEYS[i])
			return {ids, id.err}
		end
		ids[#ids + 1] = id
	else
		ids[#ids + 1] = ''
	end
	a = a + 1 + n
end
return {ids}
`)

// publishOnceBatch adds msgs to the stream, each as publishOnce would, in
// order, in one script call; onces are their once ids. It returns how many
// were added or dropped as repeats before the first failure.
func (p publisher) publishOnceBatch(ctx context.Context, msgs []wire.Message, onces []string) (int, error) {
	keys := make([]string, 0, 1+len(msgs))
	keys = append(keys, p.cfg.streamKey(nsp))
	args := []any{max(p.cfg.OnceWindow.Milliseconds(), 1), p.cfg.MaxLen}
	for i, m := range msgs {
		if m.Ephemeral() || m.Nsp != nsp {
			return 0, fmt.Errorf("redisbroker: publish type %d once in a batch: not a stream entry of %q", m.Type(), nsp)
		}
		fields, err := wire.EntryFields(m)
		if err != nil {
			return 0, err
		}
		keys = append(keys, p.cfg.onceKey(onces[i]))
		args = append(args, len(fields))
		for _, f := range fields {
			args = append(args, f)
		}
	}
	res, err := onceBatchScript.Run(ctx, p.rdb, keys, args...).Slice()
	if err != nil {
		return 0, fmt.Errorf("redisbroker: xadd %d entries once: %w", len(msgs), err)
	}
	var ids []any
	if len(res) > 0 {
		ids, _ = res[0].([]any)
	}
	if len(res) > 1 {
		return len(ids), fmt.Errorf("redisbroker: xadd type %d once: %v", msgs[len(ids)].Type(), res[1])
	}
	if len(ids) != len(msgs) {
		return len(ids), fmt.Errorf("redisbroker: xadd %d entries once: the script answered %d", len(msgs), len(ids))
	}
	return len(ids), nil
}

// publishResponse sends a response (types 8, 10, 11, 12) to the private
// channel of the server whose uid is requester.
func (p publisher) publishResponse(ctx context.Context, requester string, m wire.Message) error {
	payload, err := wire.EncodePubSub(m)
	if err != nil {
		return err
	}
	channel := wire.PrivateChannel(p.cfg.ChannelPrefix, m.Nsp, requester)
	if err := p.rdb.Publish(ctx, channel, payload).Err(); err != nil {
		return fmt.Errorf("redisbroker: publish response type %d: %w", m.Type(), err)
	}
	return nil
}

// serverCount returns how many servers listen on namespace nsp (PUBSUB
// NUMSUB of its public channel), this one included: the number of answers a
// request waits for, plus one.
func (p publisher) serverCount(ctx context.Context, nsp string) (int64, error) {
	channel := wire.PublicChannel(p.cfg.ChannelPrefix, nsp)
	counts, err := p.rdb.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, fmt.Errorf("redisbroker: pubsub numsub: %w", err)
	}
	return counts[channel], nil
}
