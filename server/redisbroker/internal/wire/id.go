package wire

import (
	"crypto/rand"
	"encoding/hex"
)

// NewID returns a server uid or a request id as the adapters make them:
// 8 random bytes in lowercase hex (16 characters).
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
