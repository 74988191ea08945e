package trainer

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/latexblend/latexblend/allreduce"
)

// gangReplay checks, step by step, the two things a data-parallel step adds to a
// single-rank one, so that a 2-rank run that drifts from the batch-2 run says where the
// drift came from instead of only that the weights differ:
//
//   - each rank's local gradient, computed while the other rank was computing too, must
//     be bit-for-bit the one the same trainer computes again on the same data with no
//     other pass running (a race between ranks, or anything else that depends on
//     scheduling, shows up here);
//   - the all-reduced gradient must be exactly (rank 0 + rank 1)/2 on both ranks (float32
//     addition is commutative and halving is exact, so the ring has no rounding freedom).
//
// Every rank's Reducer is a replayReducer of the same gang.
type gangReplay struct {
	size int

	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	round   int

	serial sync.Mutex // one replay at a time
}

func newGangReplay(size int) *gangReplay {
	g := &gangReplay{size: size}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// barrierTimeout bounds the wait for the other ranks; a rank that failed before the
// all-reduce makes the ring fail everywhere, so this is only a guard against a hung test.
const barrierTimeout = 2 * time.Minute

// wait returns once every rank of the gang has called it (a reusable barrier).
func (g *gangReplay) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	round := g.round
	g.arrived++
	if g.arrived == g.size {
		g.arrived = 0
		g.round++
		g.cond.Broadcast()
		return nil
	}
	timedOut := false
	timer := time.AfterFunc(barrierTimeout, func() {
		g.mu.Lock()
		timedOut = true
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	for round == g.round {
		if timedOut {
			return fmt.Errorf("gang barrier: the other ranks did not arrive within %s", barrierTimeout)
		}
		g.cond.Wait()
	}
	return nil
}

// replayReducer wraps one rank's ring. Before each step the test sets replay to a
// function that reruns the rank's forward and backward pass on the step's data and
// returns the loss; AllReduce keeps the local buffers, reduces them through the ring,
// keeps the result, waits for the whole gang, reruns the pass serially and compares,
// then puts the reduced values back so the step goes on exactly as it would have.
type replayReducer struct {
	inner  Reducer
	gang   *gangReplay
	replay func() (float64, error)
	// name names buffer i of an AllReduce call in messages.
	name func(i int) string

	// Results of the last AllReduce: local and reduced copies of every buffer (the
	// last buffer holds the losses), what the serial rerun found different ("" when it
	// matched bit for bit) and how far it was: the largest relative L2 distance of a
	// gradient buffer, or the loss's relative difference.
	local, reduced [][]float32
	mismatch       string
	mismatchRel    float64
}

func (r *replayReducer) AllReduce(ctx context.Context, op allreduce.Op, bufs ...[]float32) error {
	r.local = cloneBufs(bufs)
	if err := r.inner.AllReduce(ctx, op, bufs...); err != nil {
		return err
	}
	r.reduced = cloneBufs(bufs)
	r.mismatch, r.mismatchRel = "", 0
	if r.replay == nil {
		return errors.New("replayReducer: no replay set for this step")
	}
	// Every rank has finished its pass and its all-reduce: nothing else computes while
	// the replays run, one after the other.
	if err := r.gang.wait(); err != nil {
		return err
	}
	r.gang.serial.Lock()
	loss, err := r.replay()
	if err == nil {
		r.mismatch, r.mismatchRel = compareReplay(r.local, bufs, loss, r.name)
	}
	r.gang.serial.Unlock()
	if err != nil {
		return fmt.Errorf("serial replay: %w", err)
	}
	// The replay rewrote the gradient buffers (the same memory the trainer reduces).
	for i, b := range bufs {
		copy(b, r.reduced[i])
	}
	return r.gang.wait()
}

// compareReplay describes how the serially recomputed gradients (bufs, all but the last
// buffer) and loss differ from the ones computed during the step (local), and returns
// the largest relative difference (per buffer, ‖Δ‖/‖serial‖).
func compareReplay(local, bufs [][]float32, loss float64, name func(int) string) (string, float64) {
	var diffs []string
	var worstRel float64
	for i := range len(bufs) - 1 {
		if n, worst := countDiff(local[i], bufs[i]); n > 0 {
			rel, _ := relL2([][]float32{local[i]}, [][]float32{bufs[i]})
			worstRel = max(worstRel, rel)
			diffs = append(diffs, fmt.Sprintf("%s: %d of %d values (max |Δ| %.3g, relative %.3g)", name(i), n, len(bufs[i]), worst, rel))
		}
	}
	if got := local[len(local)-1][0]; got != float32(loss) {
		worstRel = max(worstRel, math.Abs(float64(got)-loss)/math.Abs(loss))
		diffs = append(diffs, fmt.Sprintf("loss %v, serial %v", got, float32(loss)))
	}
	if len(diffs) == 0 {
		return "", 0
	}
	if len(diffs) > 4 {
		diffs = append(diffs[:4], fmt.Sprintf("and %d more buffers", len(diffs)-4))
	}
	return fmt.Sprint(diffs), worstRel
}

// countDiff counts the values of a and b that are not bit-for-bit equal and returns the
// largest absolute difference among them.
func countDiff(a, b []float32) (n int, worst float64) {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			n++
			worst = max(worst, math.Abs(float64(a[i])-float64(b[i])))
		}
	}
	return n, worst
}

// checkMean describes where reduced (each rank's all-reduce result) is not exactly
// (local[0] + local[1])/2; "" when it is everywhere, on both ranks.
func checkMean(local, reduced [2][][]float32, name func(int) string) string {
	var bad []string
	for i := range local[0] {
		want := make([]float32, len(local[0][i]))
		for j := range want {
			want[j] = (local[0][i][j] + local[1][i][j]) / 2
		}
		for r := range 2 {
			if n, worst := countDiff(reduced[r][i], want); n > 0 {
				bad = append(bad, fmt.Sprintf("rank %d %s: %d of %d values (max |Δ| %.3g)", r, name(i), n, len(want), worst))
			}
		}
	}
	if len(bad) == 0 {
		return ""
	}
	if len(bad) > 4 {
		bad = append(bad[:4], fmt.Sprintf("and %d more", len(bad)-4))
	}
	return fmt.Sprint(bad)
}

// allReduceBufferName names buffer i of the trainer's all-reduce: the gradient buffers
// in trainables.gradBuffers order, then the losses.
func (t *Trainer) allReduceBufferName(i int) string {
	var names []string
	for _, p := range t.tr.gradParams() { // none in token-only runs
		names = append(names, p.Name)
	}
	for ti := range t.tr.tables {
		for _, row := range t.tr.rows {
			names = append(names, fmt.Sprintf("%s row %d", t.tr.tables[ti].Name, row))
		}
	}
	if i < len(names) {
		return names[i]
	}
	return "losses"
}

// relL2 is ‖a − b‖ / ‖b‖ over all buffers, and the buffer with the largest share.
func relL2(a, b [][]float32) (rel float64, worstBuf int) {
	var num, den, worst float64
	for i := range b {
		var bn float64
		for j := range b[i] {
			d := float64(a[i][j]) - float64(b[i][j])
			bn += d * d
			den += float64(b[i][j]) * float64(b[i][j])
		}
		num += bn
		if bn > worst {
			worst, worstBuf = bn, i
		}
	}
	if den == 0 {
		return math.Sqrt(num), worstBuf
	}
	return math.Sqrt(num / den), worstBuf
}

func cloneBufs(bufs [][]float32) [][]float32 {
	out := make([][]float32, len(bufs))
	for i, b := range bufs {
		out[i] = slices.Clone(b)
	}
	return out
}
