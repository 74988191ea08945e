package allreduce

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/latexblend/latexblend/devcluster"
)

// checkResult compares every rank's fused result with the float64 reference and requires
// bitwise identical results across ranks. bound(i) is the allowed absolute error.
func checkResult(t *testing.T, got [][][]float32, want []float64, bound func(i int) float64) {
	t.Helper()
	first := flatten(got[0])
	if len(first) != len(want) {
		t.Fatalf("rank 0 has %d elements, want %d", len(first), len(want))
	}
	for r := range got {
		f := flatten(got[r])
		for i := range f {
			if math.Float32bits(f[i]) != math.Float32bits(first[i]) {
				t.Fatalf("rank %d element %d = %v, rank 0 has %v: results not identical", r, i, f[i], first[i])
			}
		}
	}
	for i, x := range first {
		if d := math.Abs(float64(x) - want[i]); !(d <= bound(i)) {
			t.Fatalf("element %d = %v, float64 reference %v, |diff| %.3g > bound %.3g", i, x, want[i], d, bound(i))
		}
	}
}

// f32Bound: each element is n-1 float32 additions (plus one division for Mean) away
// from the exact sum, so |err| <= n * 2^-24 * sum|x| (mean: divided by n).
func f32Bound(n int, abs []float64, op Op) func(int) float64 {
	return func(i int) float64 {
		b := float64(n) * 0x1p-24 * abs[i] * 1.01
		if op == Mean {
			b /= float64(n)
		}
		return b
	}
}

func TestAllReduceMatchesFloat64Reference(t *testing.T) {
	// Lengths: empty, one element, fewer elements than ranks, not divisible by the rank
	// count, and many 10-element pieces with a short last piece per chunk. The fused
	// vector is split over three buffers so pieces straddle buffer boundaries.
	lengths := []int{0, 1, 5, 37, 1003, 4099}
	for n := 1; n <= 8; n++ {
		t.Run(fmt.Sprintf("ranks=%d", n), func(t *testing.T) {
			env := newEnv(t, n, devcluster.Config{})
			rings := env.join(t, Config{Job: "ref", Generation: 1, PieceBytes: 40, WindowBytes: 160, Timeout: 10 * time.Second}, nil)
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			for _, l := range lengths {
				for _, op := range []Op{Sum, Mean} {
					lens := []int{l / 3, l - l/3 - l/5, l / 5}
					in := randomInputs(rng, n, lens)
					sum, abs := reference(in)
					if op == Mean {
						for i := range sum {
							sum[i] /= float64(n)
						}
					}
					got := clone(in)
					errs, _ := allReduce(ctx, rings, op, got)
					for r, err := range errs {
						if err != nil {
							t.Fatalf("len=%d op=%v rank %d: %v", l, op, r, err)
						}
					}
					checkResult(t, got, sum, f32Bound(n, abs, op))
				}
			}
			if s := env.slow.Load() + env.serverSlowConsumers(t); s != 0 {
				t.Fatalf("%d slow-consumer events", s)
			}
		})
	}
}

func TestPieceCappedByServerMaxPayload(t *testing.T) {
	env := newEnv(t, 3, devcluster.Config{MaxPayload: 64 << 10})
	rings := env.join(t, Config{Job: "cap", Generation: 1, Timeout: 10 * time.Second}, nil)
	if got := rings[0].PieceBytes(); got != 64<<10 {
		t.Fatalf("PieceBytes = %d, want the server's max_payload %d", got, 64<<10)
	}
	in := randomInputs(rand.New(rand.NewPCG(1, 2)), 3, []int{100_003})
	sum, abs := reference(in)
	got := clone(in)
	errs, _ := allReduce(t.Context(), rings, Sum, got)
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	checkResult(t, got, sum, f32Bound(3, abs, Sum))
}

// TestBF16ErrorBound checks the documented bound |err| <= n*(2^-8 + 2^-24)*sum|x| (for
// Mean, divided by n) and that results are exactly bfloat16 values on every rank.
func TestBF16ErrorBound(t *testing.T) {
	for _, n := range []int{2, 5, 8} {
		t.Run(fmt.Sprintf("ranks=%d", n), func(t *testing.T) {
			env := newEnv(t, n, devcluster.Config{})
			rings := env.join(t, Config{Job: "bf16", Generation: 1, PieceBytes: 64, Wire: WireBF16, Timeout: 10 * time.Second}, nil)
			rng := rand.New(rand.NewPCG(uint64(n), 3))
			for _, op := range []Op{Sum, Mean} {
				in := randomInputs(rng, n, []int{777, 2000})
				sum, abs := reference(in)
				if op == Mean {
					for i := range sum {
						sum[i] /= float64(n)
					}
				}
				got := clone(in)
				errs, _ := allReduce(t.Context(), rings, op, got)
				for r, err := range errs {
					if err != nil {
						t.Fatalf("rank %d: %v", r, err)
					}
				}
				checkResult(t, got, sum, func(i int) float64 {
					b := BF16ErrorBound(n) * abs[i]
					if op == Mean {
						b /= float64(n)
					}
					return b
				})
				worst := 0.0
				for i, x := range flatten(got[0]) {
					if math.Float32bits(x)&0xffff != 0 {
						t.Fatalf("element %d = %v is not a bfloat16 value", i, x)
					}
					if abs[i] > 0 {
						worst = max(worst, math.Abs(float64(x)-sum[i])/abs[i])
					}
				}
				// The bound must not be vacuous: bf16 rounding is visible in the results.
				if worst < 0x1p-12 {
					t.Fatalf("largest relative error %.3g: bf16 rounding did not happen?", worst)
				}
			}
		})
	}
}

func TestShapeMismatchFailsEveryRank(t *testing.T) {
	env := newEnv(t, 3, devcluster.Config{})
	rings := env.join(t, Config{Job: "shape", Generation: 1, Timeout: 5 * time.Second}, nil)
	bufs := [][][]float32{{make([]float32, 30)}, {make([]float32, 30)}, {make([]float32, 31)}}
	errs, _ := allReduce(t.Context(), rings, Sum, bufs)
	for r, err := range errs {
		if !isKind(err, ErrMismatch) {
			t.Fatalf("rank %d: got %v, want ErrMismatch", r, err)
		}
	}
}
