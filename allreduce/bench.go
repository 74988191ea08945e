package allreduce

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"time"
)

// BenchConfig describes one `latexblend bench allreduce` run.
type BenchConfig struct {
	// Ranks is the ring size N.
	Ranks int
	// Bytes is S, the float32 vector size each rank reduces (a multiple of 4).
	Bytes int64
	// Servers is how many embedded nats-servers (one NATS cluster) carry the ring;
	// rank i connects to server i mod Servers (default 1).
	Servers int
	// Wire is the ring's wire format.
	Wire Wire
	// Reps is how many timed repetitions of each measurement to run; the best counts
	// (default 5).
	Reps int
	// PieceBytes, WindowBytes and Timeout configure the ring (0: package defaults).
	PieceBytes, WindowBytes int
	Timeout                 time.Duration
	// Progress receives one line per repetition (nil: discard).
	Progress io.Writer
	// Logger receives cluster and ring events (nil: discard).
	Logger *slog.Logger
}

// BenchResult is what a run measured. Times are the best of the repetitions.
type BenchResult struct {
	Ranks, Servers int
	Bytes          int64
	Wire           Wire
	// Seconds is the all-reduce time; RawSeconds the time plain NATS publish/subscribe
	// took to move the same per-rank traffic over the same connections, with no
	// reduction, acks or window.
	Seconds, RawSeconds float64
	// AlgBW = S/Seconds and BusBW = AlgBW*2(N-1)/N, in GB/s (1e9 bytes), as in nccl-tests.
	AlgBW, BusBW float64
	// Efficiency = RawSeconds/Seconds.
	Efficiency float64
	// MaxRelErr is the largest |result-reference|/|reference| over all elements, ranks
	// and repetitions, against a float64 sum.
	MaxRelErr float64
}

// Line is the machine-readable last line of the benchmark's output.
func (r BenchResult) Line() string {
	return fmt.Sprintf("ranks=%d bytes=%d servers=%d wire=%s seconds=%.6f algbw_GBps=%.4f busbw_GBps=%.4f raw_seconds=%.6f efficiency=%.3f max_rel_err=%.3e",
		r.Ranks, r.Bytes, r.Servers, r.Wire, r.Seconds, r.AlgBW, r.BusBW, r.RawSeconds, r.Efficiency, r.MaxRelErr)
}

func (c *BenchConfig) validate() error {
	if c.Servers == 0 {
		c.Servers = 1
	}
	if c.Reps == 0 {
		c.Reps = 5
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Ranks < 1:
		return fmt.Errorf("allreduce bench: ranks=%d must be >= 1", c.Ranks)
	case c.Bytes < 0 || c.Bytes%4 != 0:
		return fmt.Errorf("allreduce bench: bytes=%d must be a non-negative multiple of 4 (float32 elements)", c.Bytes)
	case c.Servers < 1:
		return fmt.Errorf("allreduce bench: servers=%d must be >= 1", c.Servers)
	case c.Reps < 1:
		return fmt.Errorf("allreduce bench: reps=%d must be >= 1", c.Reps)
	}
	return nil
}

// RunBench starts an embedded NATS (cluster), joins a ring of cfg.Ranks ranks over
// separate connections and measures, alternating, the all-reduce of cfg.Bytes and the
// same per-rank traffic over plain publish/subscribe. Every all-reduce result is checked
// against a float64 reference; a slow-consumer event or an error beyond the wire
// format's bound fails the run.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if err := cfg.validate(); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{Ranks: cfg.Ranks, Servers: cfg.Servers, Bytes: cfg.Bytes, Wire: cfg.Wire}
	ring := Config{Job: "bench", Generation: 1, PieceBytes: cfg.PieceBytes, WindowBytes: cfg.WindowBytes, Timeout: cfg.Timeout, Wire: cfg.Wire}
	env, err := startBenchEnv(ctx, cfg.Ranks, cfg.Servers, ring, cfg.Logger)
	if err != nil {
		return res, err
	}
	defer env.close()
	timeout := env.rings[0].cfg.Timeout

	elems := int(cfg.Bytes / 4)
	bufs := make([][]float32, cfg.Ranks)
	for r := range bufs {
		bufs[r] = make([]float32, elems)
	}
	traffic := rawTraffic(cfg.Ranks, elems, env.rings[0].pieceElems, cfg.Wire)
	payload := make([]byte, env.rings[0].PieceBytes())
	bound := relErrBound(cfg.Wire, cfg.Ranks)

	best, bestRaw := math.Inf(1), math.Inf(1)
	for rep := range cfg.Reps {
		fillBench(bufs)
		took, err := env.allReduceOnce(ctx, bufs)
		if err != nil {
			return res, fmt.Errorf("allreduce bench: repetition %d: %w", rep+1, err)
		}
		relErr, err := checkBench(bufs)
		if err != nil {
			return res, err
		}
		if relErr > bound {
			return res, fmt.Errorf("allreduce bench: max relative error %.3e exceeds the %s bound %.3e", relErr, cfg.Wire, bound)
		}
		res.MaxRelErr = max(res.MaxRelErr, relErr)
		raw, err := env.rawOnce(ctx, rep, traffic, payload, timeout)
		if err != nil {
			if sc, scErr := env.slowConsumers(); scErr == nil && sc > 0 {
				err = fmt.Errorf("%w (%d slow-consumer events so far)", err, sc)
			}
			return res, err
		}
		best, bestRaw = min(best, took.Seconds()), min(bestRaw, raw.Seconds())
		fmt.Fprintf(cfg.Progress, "rep=%d allreduce_seconds=%.6f raw_seconds=%.6f\n", rep+1, took.Seconds(), raw.Seconds())
	}
	if sc, err := env.slowConsumers(); err != nil {
		return res, err
	} else if sc != 0 {
		return res, fmt.Errorf("allreduce bench: %d slow-consumer events (client errors, dropped messages or server varz)", sc)
	}
	res.Seconds, res.RawSeconds = best, bestRaw
	if best > 0 {
		res.AlgBW = float64(cfg.Bytes) / best / 1e9
		res.Efficiency = bestRaw / best
	}
	res.BusBW = res.AlgBW * 2 * float64(cfg.Ranks-1) / float64(cfg.Ranks)
	return res, nil
}
