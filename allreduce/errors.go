package allreduce

import (
	"errors"
	"fmt"
)

// Failure kinds. Every error returned by Ring.AllReduce is an *OpError whose Kind is one
// of these, so callers test with errors.Is(err, ErrPeerLost) and the like.
var (
	// ErrPeerLost: a rank left the ring (Close) or aborted the operation.
	ErrPeerLost = errors.New("allreduce: peer lost")
	// ErrTimeout: no piece or acknowledgement arrived within Config.Timeout.
	ErrTimeout = errors.New("allreduce: timeout")
	// ErrGenerationChanged: a member of a newer generation of the same job appeared.
	ErrGenerationChanged = errors.New("allreduce: generation changed")
	// ErrMismatch: ranks disagree about the ring (size, vector length, protocol state).
	ErrMismatch = errors.New("allreduce: ranks disagree")
	// ErrTransport: publishing on the NATS connection failed.
	ErrTransport = errors.New("allreduce: transport failed")
	// ErrClosed: the Ring was closed.
	ErrClosed = errors.New("allreduce: ring closed")
	// ErrCanceled: the caller's context ended.
	ErrCanceled = errors.New("allreduce: canceled")
)

// OpError describes why an operation (or the ring) failed. A ring that returned an
// OpError is broken for good: every later call fails with the same error, and the
// caller must Close it and Join a new generation.
type OpError struct {
	// Kind is one of the Err* sentinels above.
	Kind error
	// Rank is the rank reporting the error; Peer the rank blamed (-1 if none).
	Rank, Peer int
	// Generation and Seq identify the ring and the operation.
	Generation, Seq uint64
	// Detail says what happened, in words.
	Detail string
	// Err is an underlying cause (a NATS or context error), or nil.
	Err error
}

func (e *OpError) Error() string {
	s := fmt.Sprintf("%v: rank %d, generation %d, op %d: %s", e.Kind, e.Rank, e.Generation, e.Seq, e.Detail)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap exposes both the kind and the cause to errors.Is / errors.As.
func (e *OpError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// kindName is how a kind travels in an abort message.
func kindName(k error) string {
	switch k {
	case ErrPeerLost:
		return "peer-lost"
	case ErrTimeout:
		return "timeout"
	case ErrGenerationChanged:
		return "generation-changed"
	case ErrMismatch:
		return "mismatch"
	case ErrTransport:
		return "transport"
	case ErrClosed:
		return "closed"
	case ErrCanceled:
		return "canceled"
	}
	return "unknown"
}

// remoteKind maps a peer's abort reason to the kind this rank reports. A peer's own
// timeout or transport failure is, from here, a lost peer; disagreement stays one.
func remoteKind(name string) error {
	switch name {
	case "timeout":
		return ErrTimeout
	case "generation-changed":
		return ErrGenerationChanged
	case "mismatch":
		return ErrMismatch
	}
	return ErrPeerLost
}
