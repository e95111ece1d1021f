package wire

import "errors"

var (
	// ErrUnknownType is returned when decoding a message whose type this
	// package does not speak (0.2.x heartbeats and ADAPTER_CLOSE included).
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrMalformed is returned when a stream entry, a pub/sub payload or a
	// session cannot be decoded.
	ErrMalformed = errors.New("wire: malformed message")
	// ErrInvalidOffset is returned for an offset that is not a stream entry
	// id ("<ms>-<seq>").
	ErrInvalidOffset = errors.New("wire: invalid offset")
)
