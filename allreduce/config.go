package allreduce

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Op says how the ranks' vectors are combined.
type Op int

const (
	// Sum leaves every rank with the element-wise sum over ranks.
	Sum Op = iota
	// Mean leaves every rank with the element-wise sum divided by the ring size.
	Mean
)

func (o Op) String() string {
	switch o {
	case Sum:
		return "sum"
	case Mean:
		return "mean"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// Wire is the element encoding of pieces on the wire. Accumulation is always float32.
type Wire int

const (
	// WireF32 sends float32 values unchanged (little-endian IEEE 754).
	WireF32 Wire = iota
	// WireBF16 rounds values to bfloat16 (round to nearest even) for transport, halving
	// the bytes moved; see the package documentation for the error bound.
	WireBF16
)

func (w Wire) String() string {
	switch w {
	case WireF32:
		return "f32"
	case WireBF16:
		return "bf16"
	}
	return fmt.Sprintf("Wire(%d)", int(w))
}

// elemBytes is the size of one element on the wire.
func (w Wire) elemBytes() int {
	if w == WireBF16 {
		return 2
	}
	return 4
}

// ParseWire reads "f32" or "bf16".
func ParseWire(s string) (Wire, error) {
	switch s {
	case "f32", "fp32", "float32":
		return WireF32, nil
	case "bf16", "bfloat16":
		return WireBF16, nil
	}
	return 0, fmt.Errorf("allreduce: unknown wire format %q (want f32 or bf16)", s)
}

// Defaults used for zero Config fields.
const (
	DefaultPieceBytes  = 1 << 20
	DefaultWindowBytes = 8 << 20
	DefaultTimeout     = 30 * time.Second
)

// Config describes one rank's membership in a ring. All ranks of a ring must agree on
// Job, Generation, Size, PieceBytes and Wire.
type Config struct {
	// Job names the training job; it is one NATS subject token.
	Job string
	// Generation is the membership epoch (for example the etcd rendezvous revision).
	// Messages of an older generation are dropped; a newer one fails the ring with
	// ErrGenerationChanged.
	Generation uint64
	// Rank is this member's position in the ring, 0 <= Rank < Size.
	Rank int
	// Size is the number of ranks.
	Size int
	// PieceBytes caps one message's payload (default 1 MiB). It is lowered to the
	// server's max_payload when that is smaller.
	PieceBytes int
	// WindowBytes bounds the bytes a rank has sent to its successor but not yet seen
	// acknowledged (default 8 MiB, at least one piece). It keeps every subscriber's
	// pending data far below the NATS slow-consumer limits.
	WindowBytes int
	// Timeout is how long an operation may go without progress (a piece or an ack)
	// before it fails with ErrTimeout (default 30 s).
	Timeout time.Duration
	// Wire is the element encoding on the wire (default WireF32).
	Wire Wire
	// Logger receives membership and failure events (default: discard).
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.PieceBytes == 0 {
		c.PieceBytes = DefaultPieceBytes
	}
	if c.WindowBytes == 0 {
		c.WindowBytes = DefaultWindowBytes
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field that is out of range.
func (c Config) Validate() error {
	if c.Job == "" || strings.ContainsAny(c.Job, ".*> \t\r\n") {
		return fmt.Errorf("allreduce: Config.Job %q must be one non-empty NATS subject token (no '.', '*', '>' or spaces)", c.Job)
	}
	if c.Size < 1 {
		return fmt.Errorf("allreduce: Config.Size=%d must be >= 1", c.Size)
	}
	if c.Rank < 0 || c.Rank >= c.Size {
		return fmt.Errorf("allreduce: Config.Rank=%d out of range 0..%d", c.Rank, c.Size-1)
	}
	if c.PieceBytes < 0 {
		return fmt.Errorf("allreduce: Config.PieceBytes=%d must be >= 0", c.PieceBytes)
	}
	if c.WindowBytes < 0 {
		return fmt.Errorf("allreduce: Config.WindowBytes=%d must be >= 0", c.WindowBytes)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("allreduce: Config.Timeout=%s must be >= 0", c.Timeout)
	}
	if c.Wire != WireF32 && c.Wire != WireBF16 {
		return fmt.Errorf("allreduce: Config.Wire=%d is not WireF32 or WireBF16", int(c.Wire))
	}
	return nil
}
