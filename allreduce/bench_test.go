package allreduce

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunBenchTiny runs the benchmark end to end at a tiny size over a two-server NATS
// cluster and checks its output line.
func TestRunBenchTiny(t *testing.T) {
	for _, wire := range []Wire{WireF32, WireBF16} {
		t.Run(wire.String(), func(t *testing.T) {
			var progress bytes.Buffer
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			res, err := RunBench(ctx, BenchConfig{Ranks: 3, Bytes: 3 * 4099 * 4, Servers: 2, Wire: wire, Reps: 2, PieceBytes: 4096, Progress: &progress})
			if err != nil {
				t.Fatal(err)
			}
			line := res.Line()
			re := regexp.MustCompile(`^ranks=3 bytes=49188 servers=2 wire=` + wire.String() +
				` seconds=\S+ algbw_GBps=\S+ busbw_GBps=\S+ raw_seconds=\S+ efficiency=\S+ max_rel_err=\S+$`)
			if !re.MatchString(line) {
				t.Fatalf("line %q does not match the contract", line)
			}
			if res.Seconds <= 0 || res.RawSeconds <= 0 || res.AlgBW <= 0 {
				t.Fatalf("non-positive measurements: %+v", res)
			}
			if want := res.AlgBW * 4 / 3; abs64(res.BusBW-want) > 1e-12*want {
				t.Fatalf("busbw %v, want algbw*2(N-1)/N = %v", res.BusBW, want)
			}
			if res.MaxRelErr > relErrBound(wire, 3) {
				t.Fatalf("max_rel_err %v beyond bound", res.MaxRelErr)
			}
			if wire == WireBF16 && res.MaxRelErr == 0 {
				t.Fatal("bf16 run reports no rounding error at all")
			}
			if n := strings.Count(progress.String(), "rep="); n != 2 {
				t.Fatalf("%d progress lines, want 2:\n%s", n, progress.String())
			}
		})
	}
}

func TestRunBenchRejectsBadConfig(t *testing.T) {
	for _, c := range []BenchConfig{{Ranks: 0, Bytes: 8}, {Ranks: 2, Bytes: 7}, {Ranks: 2, Bytes: -4}, {Ranks: 2, Bytes: 8, Servers: -1}} {
		if _, err := RunBench(t.Context(), c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

func TestRawTrafficMatchesRing(t *testing.T) {
	// Per rank the ring sends 2(N-1) chunks' worth of pieces: 2(N-1)/N of the vector.
	for _, tc := range []struct{ ranks, elems, piece int }{{4, 1000, 64}, {3, 10, 4}, {8, 7, 2}, {2, 0, 8}} {
		tr := rawTraffic(tc.ranks, tc.elems, tc.piece, WireF32)
		total := 0
		for r, sizes := range tr {
			for _, b := range sizes {
				if b <= 0 || b > tc.piece*4 {
					t.Fatalf("%+v: rank %d piece of %d bytes", tc, r, b)
				}
				total += b
			}
		}
		if want := 2 * (tc.ranks - 1) * tc.elems * 4; total != want {
			t.Fatalf("%+v: all ranks send %d bytes, want 2(N-1)*S = %d", tc, total, want)
		}
	}
}

func abs64(x float64) float64 { return max(x, -x) }

// BenchmarkAllReduce reports the ring's algbw/busbw (nccl-tests definitions) through one
// embedded nats-server. Larger sizes and the raw baseline: `latexblend bench allreduce`.
func BenchmarkAllReduce(b *testing.B) {
	for _, ranks := range []int{2, 4} {
		for _, size := range []int{1 << 20, 16 << 20} {
			for _, wire := range []Wire{WireF32, WireBF16} {
				b.Run(fmt.Sprintf("ranks=%d/size=%dMiB/wire=%s", ranks, size>>20, wire), func(b *testing.B) {
					env, err := startBenchEnv(b.Context(), ranks, 1, Config{Job: "gobench", Generation: 1, Wire: wire}, nil)
					if err != nil {
						b.Fatal(err)
					}
					defer env.close()
					bufs := make([][]float32, ranks)
					for r := range bufs {
						bufs[r] = make([]float32, size/4)
					}
					fillBench(bufs)
					b.SetBytes(int64(size))
					b.ResetTimer()
					var total time.Duration
					for b.Loop() {
						took, err := env.allReduceOnce(b.Context(), bufs)
						if err != nil {
							b.Fatal(err)
						}
						total += took
					}
					algbw := float64(size) * float64(b.N) / total.Seconds() / 1e9
					b.ReportMetric(algbw, "algbw_GBps")
					b.ReportMetric(algbw*2*float64(ranks-1)/float64(ranks), "busbw_GBps")
				})
			}
		}
	}
}
