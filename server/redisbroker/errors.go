package redisbroker

import (
	"errors"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

var (
	// ErrInvalidOffset is returned by a restore whose offset is not a
	// stream entry id; the session is left untouched.
	ErrInvalidOffset = wire.ErrInvalidOffset
	// ErrSessionNotFound is returned by a restore whose session expired,
	// was already restored, or never existed.
	ErrSessionNotFound = errors.New("redisbroker: session not found")
	// ErrOffsetNotFound is returned by a restore whose offset is no longer
	// in the stream (trimmed by MaxLen) or never was; the client missed
	// events it can no longer get and must resync.
	ErrOffsetNotFound = errors.New("redisbroker: offset not in the stream")
	// ErrHistoryTooLong is returned by a restore walk that read more
	// entries than the stream can hold without reaching its end.
	ErrHistoryTooLong = errors.New("redisbroker: history too long to replay")
	// ErrClosed is returned by a building block or a Broker used after
	// Close, and by the requests Close ended.
	ErrClosed = errors.New("redisbroker: closed")
	// ErrNotStarted is returned by a Broker's requests before Start: without
	// its subscription no answer could reach it.
	ErrNotStarted = errors.New("redisbroker: broker not started")
	// ErrRequestTimeout is returned by FetchSockets and ServerSideEmit with
	// an acknowledgement when some node did not answer within
	// Config.RequestTimeout; the message tells how many answered of how
	// many.
	ErrRequestTimeout = errors.New("redisbroker: timeout reached")
)
