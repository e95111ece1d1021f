package wire

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// marshalMsgpack encodes v as @msgpack/msgpack reads it: struct fields under
// their json names, compact integers, []byte as bin. Arguments that are
// json.RawMessage must go through msgpackPayload first, or they become bin.
func marshalMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unmarshalMsgpack decodes b into v under json field names. Values in
// interfaces keep msgpack's sizes (int8, uint16, float32...) until loosen:
// the decoder's own loose mode would turn bin into string.
func unmarshalMsgpack(b []byte, v any) error {
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.SetCustomStructTag("json")
	return dec.Decode(v)
}

// loosen returns v with its numbers widened to int64, uint64 or float64,
// inside slices and maps too.
func loosen(v any) any {
	switch x := v.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case uint8:
		return uint64(x)
	case uint16:
		return uint64(x)
	case uint32:
		return uint64(x)
	case uint:
		return uint64(x)
	case float32:
		return float64(x)
	case []any:
		for i, e := range x {
			x[i] = loosen(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = loosen(e)
		}
	}
	return v
}

func loosenMap(m map[string]any) map[string]any {
	for k, e := range m {
		m[k] = loosen(e)
	}
	return m
}

// msgpackPayload returns a copy of p whose json.RawMessage arguments are
// decoded, so that msgpack carries them as values rather than as bin.
func msgpackPayload(p Payload) (Payload, error) {
	switch d := p.(type) {
	case *Broadcast:
		c := *d
		pk, err := c.Packet.decoded()
		if err != nil {
			return nil, err
		}
		c.Packet = pk
		args, err := decodeRaw(c.Packet.Data)
		c.Packet.Data = args
		return &c, err
	case *ServerSideEmit:
		c := *d
		args, err := decodeRaw(c.Packet)
		c.Packet = args
		return &c, err
	}
	return p, nil
}

func decodeRaw(args []any) ([]any, error) {
	var out []any // a copy, made at the first json.RawMessage
	for i, a := range args {
		raw, ok := a.(json.RawMessage)
		if !ok {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, fmt.Errorf("wire: argument %d: %w", i, err)
		}
		out[i] = v
	}
	if out == nil {
		return args, nil
	}
	return out, nil
}

// hasBinary reports whether v holds a []byte (hasBinary in the adapter).
// json.RawMessage is JSON text, not binary.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case json.RawMessage:
		return false
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}
