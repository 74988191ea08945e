package allreduce

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/latexblend/latexblend/devcluster"
)

func isKind(err, kind error) bool {
	var e *OpError
	return errors.As(err, &e) && errors.Is(err, kind)
}

// requireAllFailed asserts every listed rank returned an OpError of one of kinds, within
// limit of the moment the fault happened.
func requireAllFailed(t *testing.T, errs []error, took []time.Duration, ranks []int, limit time.Duration, kinds ...error) {
	t.Helper()
	for _, r := range ranks {
		ok := false
		for _, k := range kinds {
			ok = ok || isKind(errs[r], k)
		}
		if !ok {
			t.Errorf("rank %d returned %v, want one of %v", r, errs[r], kinds)
		}
		if took[r] > limit {
			t.Errorf("rank %d returned after %s, want within %s", r, took[r], limit)
		}
	}
}

// TestKilledRankFailsEveryOtherRank closes a rank's connection after it has published a
// few pieces (a crash mid-operation); all others must fail within the timeout.
func TestKilledRankFailsEveryOtherRank(t *testing.T) {
	const n, timeout = 4, time.Second
	env := newEnv(t, n, devcluster.Config{})
	killed := make(chan time.Time, 1)
	rings := env.join(t, Config{Job: "kill", Generation: 1, PieceBytes: 4096, WindowBytes: 8192, Timeout: timeout},
		func(rank int, tr transport) transport {
			if rank != 2 {
				return tr
			}
			return &faultTransport{transport: tr, onPublish: func(k int64, _ string) (bool, error) {
				if k == 5 {
					env.conns[2].Close()
					killed <- time.Now()
				}
				return false, nil
			}}
		})
	in := randomInputs(rand.New(rand.NewPCG(5, 5)), n, []int{200_000})
	start := time.Now()
	errs, took := allReduce(t.Context(), rings, Sum, in)
	var at time.Time
	select {
	case at = <-killed:
	default:
		t.Fatal("rank 2 was never killed")
	}
	sinceKill := make([]time.Duration, n)
	for r := range took {
		sinceKill[r] = start.Add(took[r]).Sub(at)
	}
	requireAllFailed(t, errs, sinceKill, []int{0, 1, 3}, timeout+2*time.Second, ErrTimeout, ErrPeerLost)
	if errs[2] == nil {
		t.Error("the killed rank reported success")
	}
	// The ring stays broken: the next call fails at once with the same error.
	if err := rings[0].AllReduce(t.Context(), Sum, in[0]...); !errors.Is(err, errs[0]) && err != errs[0] {
		t.Errorf("call after failure returned %v, want %v", err, errs[0])
	}
}

// TestMissingPieceTimesOut drops one piece on the wire; nobody may report success.
func TestMissingPieceTimesOut(t *testing.T) {
	const n, timeout = 3, 500 * time.Millisecond
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "drop", Generation: 1, PieceBytes: 1024, Timeout: timeout},
		func(rank int, tr transport) transport {
			if rank != 1 {
				return tr
			}
			return &faultTransport{transport: tr, onPublish: func(k int64, _ string) (bool, error) { return k == 3, nil }}
		})
	in := randomInputs(rand.New(rand.NewPCG(1, 1)), n, []int{3000})
	errs, took := allReduce(t.Context(), rings, Sum, in)
	requireAllFailed(t, errs, took, []int{0, 1, 2}, timeout+2*time.Second, ErrTimeout, ErrPeerLost)
	timedOut := false
	for _, err := range errs {
		timedOut = timedOut || isKind(err, ErrTimeout)
	}
	if !timedOut {
		t.Errorf("no rank detected the timeout itself: %v", errs)
	}
}

// TestLeavingPeerFailsOthersFast: a rank that Closes announces it, so the others fail
// with ErrPeerLost long before their (long) timeout.
func TestLeavingPeerFailsOthersFast(t *testing.T) {
	const n = 4
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "leave", Generation: 1, Timeout: time.Minute}, nil)
	in := randomInputs(rand.New(rand.NewPCG(2, 2)), n, []int{10_000})
	leaver := rings[3]
	rings[3] = nil // never calls AllReduce
	go func() {
		time.Sleep(100 * time.Millisecond)
		leaver.Close()
	}()
	errs, took := allReduce(t.Context(), rings, Sum, in)
	requireAllFailed(t, errs, took, []int{0, 1, 2}, 10*time.Second, ErrPeerLost)
}

// TestGenerationChange: a member of a newer generation appears while the old generation
// is mid-operation (one old rank is missing, so the operation cannot complete); the old
// ranks fail with ErrGenerationChanged at once, not at their timeout.
func TestGenerationChange(t *testing.T) {
	const n = 3
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "gen", Generation: 1, Timeout: time.Minute}, nil)
	in := randomInputs(rand.New(rand.NewPCG(3, 3)), n, []int{5000})
	errs, _ := allReduce(t.Context(), rings, Sum, clone(in))
	for r, err := range errs {
		if err != nil {
			t.Fatalf("first operation, rank %d: %v", r, err)
		}
	}
	rings[2] = nil
	go func() {
		time.Sleep(100 * time.Millisecond)
		next, err := Join(t.Context(), env.conns[2], Config{Job: "gen", Generation: 2, Rank: 0, Size: 1})
		if err == nil {
			next.Close()
		}
	}()
	errs, took := allReduce(t.Context(), rings, Sum, clone(in))
	requireAllFailed(t, errs, took, []int{0, 1}, 10*time.Second, ErrGenerationChanged)
}

// TestLateMessagesDropped injects pieces of an older generation and of a finished
// operation (with garbage values) into a working ring; results must be unaffected.
func TestLateMessagesDropped(t *testing.T) {
	const n = 2
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "late", Generation: 7, Timeout: 10 * time.Second}, nil)
	rng := rand.New(rand.NewPCG(4, 4))
	garbage := float32Bytes([]float32{1e30, 1e30, 1e30, 1e30, 1e30})
	for op := range 3 {
		in := randomInputs(rng, n, []int{10})
		sum, abs := reference(in)
		// Stale traffic to rank 0: generation 6, and (after op 0) the previous operation.
		stale := []string{dataSubject("late", 6, uint64(op), 0, 0, 0, 10)}
		if op > 0 {
			stale = append(stale, dataSubject("late", 7, uint64(op-1), 0, 0, 0, 10), ackSubject("late", 7, uint64(op-1), 0, 99))
		}
		for _, s := range stale {
			if err := env.conns[1].Publish(s, garbage); err != nil {
				t.Fatal(err)
			}
		}
		if err := env.conns[1].Flush(); err != nil {
			t.Fatal(err)
		}
		got := clone(in)
		errs, _ := allReduce(t.Context(), rings, Sum, got)
		for r, err := range errs {
			if err != nil {
				t.Fatalf("op %d rank %d: %v", op, r, err)
			}
		}
		checkResult(t, got, sum, f32Bound(n, abs, Sum))
	}
}

// TestContextCancelFailsAllRanks: rank 1 never shows up, rank 0's context ends; rank 0
// returns ErrCanceled and rank 2 learns of the abort (ErrPeerLost) instead of waiting
// for its one-minute timeout.
func TestContextCancelFailsAllRanks(t *testing.T) {
	const n = 3
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "cancel", Generation: 1, Timeout: time.Minute}, nil)
	in := randomInputs(rand.New(rand.NewPCG(6, 6)), n, []int{1000})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r0 := rings[0]
	rings[0], rings[1] = nil, nil
	type result struct {
		err  error
		took time.Duration
	}
	done := make(chan result, 1)
	go func() {
		start := time.Now()
		err := r0.AllReduce(ctx, Sum, in[0]...)
		done <- result{err, time.Since(start)}
	}()
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	errs, took := allReduce(t.Context(), rings, Sum, in)
	res := <-done
	errs[0], took[0] = res.err, res.took
	requireAllFailed(t, errs, took, []int{0}, 10*time.Second, ErrCanceled)
	requireAllFailed(t, errs, took, []int{2}, 10*time.Second, ErrPeerLost)
	if !errors.Is(errs[0], context.Canceled) {
		t.Errorf("rank 0 error %v does not wrap context.Canceled", errs[0])
	}
}

// TestSlowConsumerFree16MiB reduces 16 MiB at 8 ranks with default pieces and window and
// requires zero slow-consumer events (client handler, subscription drops, server varz).
func TestSlowConsumerFree16MiB(t *testing.T) {
	const n = 8
	env := newEnv(t, n, devcluster.Config{})
	rings := env.join(t, Config{Job: "big", Generation: 1, Timeout: 30 * time.Second}, nil)
	elems := 16 << 20 / 4
	in := make([][][]float32, n)
	for r := range in {
		b := make([]float32, elems)
		for i := range b {
			b[i] = float32(r + 1)
		}
		in[r] = [][]float32{b}
	}
	errs, took := allReduce(t.Context(), rings, Sum, in)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	want := float32(n * (n + 1) / 2)
	for r := range in {
		for i, x := range in[r][0] {
			if x != want {
				t.Fatalf("rank %d element %d = %v, want %v", r, i, x, want)
			}
		}
	}
	for r, ring := range rings {
		for _, s := range ring.subs {
			if d := s.dropped(); d != 0 {
				t.Fatalf("rank %d subscription dropped %d messages", r, d)
			}
		}
	}
	if s := env.slow.Load(); s != 0 {
		t.Fatalf("%d slow-consumer errors on client connections", s)
	}
	if s := env.serverSlowConsumers(t); s != 0 {
		t.Fatalf("server counted %d slow consumers", s)
	}
	t.Logf("16 MiB at 8 ranks took %s", took[0])
}

// TestNewerGenerationDataFailsRank: a piece addressed to this rank by a newer generation
// fails the operation with ErrGenerationChanged.
func TestNewerGenerationDataFailsRank(t *testing.T) {
	env := newEnv(t, 2, devcluster.Config{})
	rings := env.join(t, Config{Job: "gendata", Generation: 4, Timeout: time.Minute}, nil)
	rings[1] = nil // rank 1 stays out, so rank 0 waits
	go func() {
		time.Sleep(100 * time.Millisecond)
		env.conns[1].Publish(dataSubject("gendata", 5, 0, 0, 0, 0, 8), make([]byte, 16))
	}()
	errs, took := allReduce(t.Context(), rings, Sum, [][][]float32{{make([]float32, 8)}, nil})
	requireAllFailed(t, errs, took, []int{0}, 10*time.Second, ErrGenerationChanged)
}

// TestPeerLeavingAfterItsLastOperation: ranks that finish the last operation of a job
// close at once, as trainers do, while their neighbours may still be finishing theirs.
// That must not fail the neighbours' operation (the leaver sent and acknowledged all it
// owed); only a later operation fails with ErrPeerLost.
func TestPeerLeavingAfterItsLastOperation(t *testing.T) {
	const n = 3
	env := newEnv(t, n, devcluster.Config{})
	for trial := range 8 {
		rings := env.join(t, Config{Job: fmt.Sprintf("finish%d", trial), Generation: 1, Timeout: time.Minute}, nil)
		in := randomInputs(rand.New(rand.NewPCG(uint64(trial), 9)), n, []int{200_000})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for r := range n {
			wg.Go(func() {
				errs[r] = rings[r].AllReduce(t.Context(), Sum, in[r]...)
				if r == n-1 {
					rings[r].Close()
				}
			})
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Fatalf("trial %d: rank %d failed its last operation after a finished peer left: %v", trial, r, err)
			}
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		err := rings[0].AllReduce(ctx, Sum, in[0]...)
		cancel()
		if !isKind(err, ErrPeerLost) {
			t.Fatalf("trial %d: the operation after the peer left returned %v, want ErrPeerLost", trial, err)
		}
	}
}
