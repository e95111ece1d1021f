package entreactive_test

import (
	"testing"
	"time"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/entreactive"
)

// BenchmarkEventMarshalJSON encodes the event of a message row, as the
// server does once per event before delivery. Before the generated
// AppendReactive (encoding/json with the wire struct) it took 4 allocations
// per event.
func BenchmarkEventMarshalJSON(b *testing.B) {
	at := time.Date(2026, 12, 1, 14, 30, 0, 123456789, time.UTC)
	ev := entreactive.Event{
		Action: entreactive.ActionUpdate,
		Model:  "Message",
		ID:     42,
		Data: &ent.Message{
			ID: 42, ConversationID: 7, SenderID: 1, RecipientID: 2,
			Text: "hello, how are you doing today?", CreatedAt: at, UpdatedAt: at,
		},
		Changed:   []string{"text", "updated_at"},
		Timestamp: at,
	}
	measureCPU(b, func() error {
		_, err := ev.MarshalJSON()
		return err
	})
}
