package wire

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The field names of a stream entry, in the order the adapter writes them.
const (
	fieldUID  = "uid"
	fieldNsp  = "nsp"
	fieldType = "type"
	fieldData = "data"
)

// EntryFields returns the field/value pairs of m's stream entry, in the
// order of the adapter's XADD: uid, nsp, type (decimal string), data. data is
// JSON, or base64(msgpack) when the payload holds binary. Nil slices are
// sent as empty arrays.
func EntryFields(m Message) ([]string, error) {
	if m.Data == nil {
		return nil, fmt.Errorf("%w: no payload", ErrMalformed)
	}
	data, err := encodeEntryData(m.Data)
	if err != nil {
		return nil, err
	}
	return []string{
		fieldUID, m.UID,
		fieldNsp, m.Nsp,
		fieldType, strconv.Itoa(int(m.Type())),
		fieldData, data,
	}, nil
}

func encodeEntryData(p Payload) (string, error) {
	p = p.normalized()
	if p.hasBinary() {
		mp, err := msgpackPayload(p)
		if err != nil {
			return "", err
		}
		b, err := marshalMsgpack(mp)
		if err != nil {
			return "", fmt.Errorf("wire: encode type %d: %w", p.Type(), err)
		}
		return base64.StdEncoding.EncodeToString(b), nil
	}
	// Like JSON.stringify, no HTML escaping: a packet's RawData is then
	// written exactly as it was given.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return "", fmt.Errorf("wire: encode type %d: %w", p.Type(), err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// DecodeEntry decodes the fields of a stream entry (as XREAD/XRANGE return
// them). Like the adapter, it picks JSON when data starts with "{" and
// base64(msgpack) otherwise. An entry without nsp is not a cluster message:
// the adapter skips it, and so should the caller (ErrMalformed).
//
// A broadcast's packet data is decoded into Packet.Data; DecodeEntryRaw keeps
// it as JSON text.
func DecodeEntry(values map[string]any) (Message, error) {
	m, err := DecodeEntryRaw(values)
	if err != nil {
		return Message{}, err
	}
	if b, ok := m.Data.(*Broadcast); ok && b.Packet.RawData != nil {
		pk, err := b.Packet.decoded()
		if err != nil {
			return Message{}, fmt.Errorf("%w: type %d: %w", ErrMalformed, b.Type(), err)
		}
		b.Packet = pk
	}
	return m, nil
}

// DecodeEntryRaw is DecodeEntry keeping the packet data of a broadcast read
// from a JSON entry as text (Packet.RawData), so that a node that only
// passes it on to its clients never decodes the arguments. Binary (msgpack)
// entries are decoded into Packet.Data.
func DecodeEntryRaw(values map[string]any) (Message, error) {
	field := func(name string) string {
		s, _ := values[name].(string)
		return s
	}
	m := Message{UID: field(fieldUID), Nsp: field(fieldNsp)}
	if m.Nsp == "" {
		return Message{}, fmt.Errorf("%w: entry without nsp", ErrMalformed)
	}
	code, err := strconv.Atoi(field(fieldType))
	if err != nil {
		return Message{}, fmt.Errorf("%w: type %q", ErrMalformed, field(fieldType))
	}
	p, ok := newPayload(Type(code))
	if !ok {
		return Message{}, fmt.Errorf("%w: %d", ErrUnknownType, code)
	}
	if err := decodeEntryData(field(fieldData), p); err != nil {
		return Message{}, err
	}
	m.Data = p
	return m, nil
}

func decodeEntryData(data string, p Payload) error {
	if data == "" {
		return fmt.Errorf("%w: type %d without data", ErrMalformed, p.Type())
	}
	if strings.HasPrefix(data, "{") {
		if err := json.Unmarshal([]byte(data), p); err != nil {
			return fmt.Errorf("%w: type %d: %w", ErrMalformed, p.Type(), err)
		}
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return fmt.Errorf("%w: type %d: %w", ErrMalformed, p.Type(), err)
	}
	if err := unmarshalMsgpack(b, p); err != nil {
		return fmt.Errorf("%w: type %d: %w", ErrMalformed, p.Type(), err)
	}
	p.loosen()
	return nil
}
