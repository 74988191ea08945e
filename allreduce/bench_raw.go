package allreduce

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// rawTraffic lists, per rank, the payload sizes the ring sends to its successor, in
// order, so the raw baseline moves exactly the same messages.
func rawTraffic(ranks int, elems int, pieceElems int, w Wire) [][]int {
	out := make([][]int, ranks)
	if ranks == 1 {
		return out
	}
	lay := layout{total: elems, size: ranks, piece: pieceElems}
	for r := range out {
		for step := range 2 * (ranks - 1) {
			c := mod(r-step, ranks)
			for j := range lay.pieces(c) {
				a, b := lay.pieceRange(c, j)
				out[r] = append(out[r], (b-a)*w.elemBytes())
			}
		}
	}
	return out
}

// rawOnce has every rank publish its ring traffic to its successor over plain NATS, as
// fast as the client allows, and returns the time until every byte has arrived.
func (e *benchEnv) rawOnce(ctx context.Context, rep int, traffic [][]int, payload []byte, timeout time.Duration) (time.Duration, error) {
	n := len(e.conns)
	subject := func(r int) string { return fmt.Sprintf("allreduce.rawbench.%d.%d", rep, r) }
	want := make([]int64, n)
	var receivers int64
	for r := range n {
		for _, b := range traffic[mod(r-1, n)] {
			want[r] += int64(b)
		}
		if want[r] > 0 {
			receivers++
		}
	}
	if receivers == 0 {
		return 0, nil
	}
	got := make([]atomic.Int64, n)
	probed := make([]atomic.Bool, n)
	var remaining atomic.Int64
	remaining.Store(receivers)
	arrived := make(chan struct{})
	var subs []*nats.Subscription
	defer func() {
		for _, s := range subs {
			s.Unsubscribe()
		}
	}()
	for r, nc := range e.conns {
		if want[r] == 0 {
			continue
		}
		sub, err := nc.Subscribe(subject(r), func(m *nats.Msg) {
			if len(m.Data) == 0 {
				probed[r].Store(true)
				return
			}
			if got[r].Add(int64(len(m.Data))) == want[r] && remaining.Add(-1) == 0 {
				close(arrived)
			}
		})
		if err != nil {
			return 0, fmt.Errorf("allreduce bench: raw subscribe: %w", err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return 0, fmt.Errorf("allreduce bench: raw pending limits: %w", err)
		}
		subs = append(subs, sub)
	}
	// Subscription interest reaches the other servers of a NATS cluster asynchronously:
	// probe each link with empty messages until one arrives, so no data is published
	// into a server that does not yet know the receiver.
	deadline := time.Now().Add(timeout)
	for r, nc := range e.conns {
		succ := mod(r+1, n)
		for want[succ] > 0 && !probed[succ].Load() {
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("allreduce bench: raw subscription of rank %d not visible after %s", succ, timeout)
			}
			if err := nc.Publish(subject(succ), nil); err != nil {
				return 0, fmt.Errorf("allreduce bench: raw probe: %w", err)
			}
			nc.Flush()
			time.Sleep(time.Millisecond)
		}
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for r, nc := range e.conns {
		wg.Go(func() {
			<-start
			subj := subject(mod(r+1, n))
			for _, b := range traffic[r] {
				if err := nc.Publish(subj, payload[:b]); err != nil {
					errs[r] = err
					return
				}
			}
			errs[r] = nc.Flush()
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("allreduce bench: raw publish: %w", err)
	}
	select {
	case <-arrived:
		return time.Since(t0), nil
	case <-time.After(timeout):
		return 0, fmt.Errorf("allreduce bench: raw traffic incomplete after %s (messages lost)", timeout)
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}
