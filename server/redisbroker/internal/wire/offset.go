package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// Recoverable reports whether b's packet is kept for connection state
// recovery and so carries its offset (addOffsetIfNecessary): an event
// packet, without acknowledgement id, not volatile, and not a broadcast that
// waits for acknowledgements (those travel by pub/sub and have no offset).
//
// Node gives a volatile packet no offset either, but its restore walk
// replays volatile packets anyway; MissedPacket does not.
func Recoverable(b *Broadcast) bool {
	return b.RequestID == "" &&
		b.Packet.Type == PacketTypeEvent &&
		b.Packet.ID == nil &&
		!b.Opts.Flags.Volatile
}

// WithOffset returns the event arguments a client receives for b delivered
// from stream entry offset: packet.data, plus the offset as the last
// argument when b is Recoverable. The socket.io client keeps the last string
// argument of each event as the offset to send back on reconnection. b is
// not modified.
func WithOffset(b *Broadcast, offset string) []any {
	data := b.Packet.Data
	if b.Packet.RawData != nil {
		data, _ = b.Packet.Args() // malformed text gives no arguments
	}
	if !Recoverable(b) {
		return data
	}
	out := make([]any, len(data), len(data)+1)
	copy(out, data)
	return append(out, offset)
}

// Offset is a stream entry id, "<ms>-<seq>".
type Offset struct {
	MS, Seq uint64
}

// ParseOffset parses a stream entry id. Like the adapter's /^[0-9]+-[0-9]+$/
// it accepts only digits around one dash; unlike JavaScript, values beyond
// 64 bits are rejected rather than rounded.
func ParseOffset(s string) (Offset, error) {
	ms, seq, ok := strings.Cut(s, "-")
	if !ok || !digits(ms) || !digits(seq) {
		return Offset{}, fmt.Errorf("%w: %q", ErrInvalidOffset, s)
	}
	m, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return Offset{}, fmt.Errorf("%w: %q", ErrInvalidOffset, s)
	}
	q, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return Offset{}, fmt.Errorf("%w: %q", ErrInvalidOffset, s)
	}
	return Offset{MS: m, Seq: q}, nil
}

// String returns the stream entry id.
func (o Offset) String() string {
	return strconv.FormatUint(o.MS, 10) + "-" + strconv.FormatUint(o.Seq, 10)
}

// Next returns the smallest id after o (the adapter's nextOffset: the
// exclusive start of the restore walk, usable before Redis 6.2's "(").
func (o Offset) Next() Offset {
	if o.Seq == ^uint64(0) {
		return Offset{MS: o.MS + 1}
	}
	return Offset{MS: o.MS, Seq: o.Seq + 1}
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
