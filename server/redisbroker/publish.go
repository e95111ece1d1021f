package redisbroker

import (
	"context"
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

// onceScript adds stream entries, in order, each unless its id was
// published within the window: SET <its once key> 1 NX PX ARGV[1], and
// only when that set it, XADD KEYS[1] MAXLEN ~ ARGV[2] * <its fields> (as
// publish writes them). KEYS[2...] are the entries' once keys; after the
// window and MAXLEN, ARGV holds, for each entry, its number of fields and
// the fields. It returns {ids} ("" for a repeat), or, when an XADD fails
// (a key of another type), {ids so far, error}: that entry's once key is
// deleted again, so that it can be published when tried again, and no
// later entry is added.
var onceScript = redis.NewScript(`
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

// publishOnce adds m to the stream, as publish does, unless a broadcast
// published as once was within Config.OnceWindow: then it returns "" and
// no error. The check and the XADD are one script (EVALSHA, EVAL when
// Redis does not have it yet), so that of several nodes and emitters
// publishing once concurrently, one adds it. m must not be ephemeral.
func (p publisher) publishOnce(ctx context.Context, m wire.Message, once string) (string, error) {
	ids, err := p.publishOnceBatch(ctx, []wire.Message{m}, []string{once})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// publishOnceBatch adds msgs to the stream, each as publishOnce would, in
// order, in one script call; onces are their once ids. It returns the
// entry ids ("" for a repeat) of those added or dropped as repeats before
// the first failure.
func (p publisher) publishOnceBatch(ctx context.Context, msgs []wire.Message, onces []string) ([]string, error) {
	keys := make([]string, 0, 1+len(msgs))
	keys = append(keys, p.cfg.streamKey(nsp))
	args := []any{max(p.cfg.OnceWindow.Milliseconds(), 1), p.cfg.MaxLen}
	for i, m := range msgs {
		if m.Ephemeral() || m.Nsp != nsp {
			return nil, fmt.Errorf("redisbroker: publish type %d once: not a stream entry of %q", m.Type(), nsp)
		}
		fields, err := wire.EntryFields(m)
		if err != nil {
			return nil, err
		}
		keys = append(keys, p.cfg.onceKey(onces[i]))
		args = append(args, len(fields))
		for _, f := range fields {
			args = append(args, f)
		}
	}
	res, err := onceScript.Run(ctx, p.rdb, keys, args...).Slice()
	if err != nil {
		return nil, fmt.Errorf("redisbroker: xadd %d entries once: %w", len(msgs), err)
	}
	var ids []string
	if len(res) > 0 {
		added, _ := res[0].([]any)
		for _, id := range added {
			s, _ := id.(string)
			ids = append(ids, s)
		}
	}
	switch {
	case len(res) > 1:
		return ids, fmt.Errorf("redisbroker: xadd type %d once: %v", msgs[len(ids)].Type(), res[1])
	case len(ids) != len(msgs):
		return ids, fmt.Errorf("redisbroker: xadd %d entries once: the script answered %d", len(msgs), len(ids))
	}
	return ids, nil
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
