package clip

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// ForwardTiming is the measured cost of one encoder forward pass.
type ForwardTiming struct {
	// First is the first run, which builds and compiles the graph.
	First time.Duration
	// Median and Best are over the timed runs after it.
	Median, Best time.Duration
	Runs         int
	// FLOPs is the pass's multiply-add count ×2 (ForwardFLOPs).
	FLOPs float64
}

// GFLOPS is the throughput of the median run.
func (t ForwardTiming) GFLOPS() float64 { return t.FLOPs / t.Median.Seconds() / 1e9 }

// ForwardFLOPs estimates the floating-point operations of one forward pass over batch
// rows of length tokens: the projections, the MLP and the attention products (norms,
// softmax and activations are lower order and left out).
func (m *TextModel) ForwardFLOPs(batch, length int) float64 {
	d, f := float64(m.Config.HiddenSize), float64(m.Config.IntermediateSize)
	n := float64(batch * length)
	l := float64(length)
	perLayer := 2*n*4*d*d + 2*n*2*d*f + 2*2*n*l*d
	total := float64(len(m.Layers)) * perLayer
	if m.Projection != nil {
		total += 2 * float64(batch) * d * float64(m.Config.ProjectionDim)
	}
	return total
}

// TimeForward runs the encoder on batch rows of ids (BOS, a few word ids, EOS, padding)
// once to compile, then runs more times and reports the timings. It stops early,
// with what it has measured, when ctx is done.
func (e *TextEncoder) TimeForward(ctx context.Context, batch, runs int) (ForwardTiming, error) {
	if batch < 1 || runs < 1 {
		return ForwardTiming{}, fmt.Errorf("clip: timing needs batch ≥ 1 and runs ≥ 1, got %d and %d", batch, runs)
	}
	ids := benchIDs(batch, e.Model.MaxLength(), e.Model.NumTokens())
	res := ForwardTiming{FLOPs: e.Model.ForwardFLOPs(batch, len(ids[0]))}
	start := time.Now()
	if _, err := e.Encode(ids); err != nil {
		return res, err
	}
	res.First = time.Since(start)
	var times []time.Duration
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		start := time.Now()
		if _, err := e.Encode(ids); err != nil {
			return res, err
		}
		times = append(times, time.Since(start))
	}
	if len(times) == 0 {
		return res, fmt.Errorf("clip: timing: %w", ctx.Err())
	}
	slices.Sort(times)
	res.Runs, res.Best, res.Median = len(times), times[0], times[len(times)/2]
	return res, nil
}

// benchIDs is a full-length prompt shaped like a tokenized one, with ids that fit any
// vocabulary of at least 4 rows: BOS, 8 word ids, EOS, then EOS padding.
func benchIDs(batch, length, vocab int) [][]int {
	bos, eos := min(49406, vocab-2), min(49407, vocab-1)
	rows := make([][]int, batch)
	for b := range rows {
		row := make([]int, length)
		for i := range row {
			switch {
			case i == 0:
				row[i] = bos
			case i <= 8 && i < length-1:
				row[i] = (320 + 97*i + b) % bos
			default:
				row[i] = eos
			}
		}
		rows[b] = row
	}
	return rows
}
