package allreduce

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/latexblend/latexblend/devcluster"
)

// tapTransport reports every publish (subject only) to fn before forwarding it.
type tapTransport struct {
	transport
	fn func(subject string)
}

func (t tapTransport) publish(subject string, data []byte) error {
	t.fn(subject)
	return t.transport.publish(subject, data)
}

// TestWindowBoundsInFlight: when rank 0 publishes a piece to rank 1, the pieces it has
// sent minus the highest count rank 1 has acknowledged so far never exceed the credit
// window. (Acks published but not yet received only make the true gap larger than the
// one measured here, so the check is sound.)
func TestWindowBoundsInFlight(t *testing.T) {
	const piece, window = 256, 1024 // 4 credits
	env := newEnv(t, 2, devcluster.Config{})
	var mu sync.Mutex
	var sent, acked, worst int
	var seq uint64
	rings := env.join(t, Config{Job: "window", Generation: 1, PieceBytes: piece, WindowBytes: window, Timeout: 10 * time.Second},
		func(rank int, tr transport) transport {
			return tapTransport{tr, func(subject string) {
				h, err := parseSubject(subject)
				if err != nil {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if h.seq != seq {
					return
				}
				switch {
				case rank == 0 && !h.ack:
					sent++
					worst = max(worst, sent-acked)
				case rank == 1 && h.ack:
					acked = max(acked, h.piece)
				}
			}}
		})
	if rings[0].credits != window/piece {
		t.Fatalf("credits = %d, want %d", rings[0].credits, window/piece)
	}
	in := randomInputs(rand.New(rand.NewPCG(9, 9)), 2, []int{20_000}) // 78 pieces per step
	errs, _ := allReduce(t.Context(), rings, Sum, in)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	if worst > window/piece {
		t.Fatalf("rank 0 had %d pieces unacknowledged, window allows %d", worst, window/piece)
	}
	if worst < 2 {
		t.Fatalf("at most %d piece in flight: no pipelining", worst)
	}
	t.Logf("max pieces in flight %d of %d; %d sent", worst, window/piece, sent)
}
