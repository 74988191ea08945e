package unet

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunBenchSmall(t *testing.T) {
	cfg := configFromJSON(t, microConfig)
	var progress bytes.Buffer
	r, err := RunBench(context.Background(), BenchConfig{Reps: 1, TinySize: 8, MidSize: 8, Tokens: 5, GEMM: 64, Tiny: cfg, Mid: cfg, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	line := r.Line()
	for _, key := range []string{"tiny_ms=", "mid_ms=", "mid_gflops=", "sgemm_gflops=", "efficiency=", "peak_mb=", "backend="} {
		if !strings.Contains(line, key) {
			t.Errorf("line %q lacks %q", line, key)
		}
	}
	if r.TinyMS <= 0 || r.MidMS <= 0 || r.SGEMMGFLOPS <= 0 || r.PeakMB <= 0 || r.Efficiency() <= 0 {
		t.Errorf("non-positive measurement in %q", line)
	}
	f, _ := CountFLOPs(cfg, 1, 8, 8, 5)
	if r.MidFLOP != f.Total() {
		t.Errorf("mid FLOP %g, CountFLOPs says %g", r.MidFLOP, f.Total())
	}
	if !strings.Contains(progress.String(), "sgemm 64³") {
		t.Errorf("progress lacks the SGEMM line:\n%s", progress.String())
	}
	if _, err := RunBench(context.Background(), BenchConfig{Tiny: cfg, Mid: cfg, MidSize: 7, TinySize: 8, Reps: 1, GEMM: 32}); err == nil || !strings.Contains(err.Error(), "mid") {
		t.Errorf("odd latent size: %v", err)
	}
}
