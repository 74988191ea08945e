package nn

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func TestBLASBackendMatchesBuild(t *testing.T) {
	impl := fmt.Sprintf("%T", backend)
	switch BLASBackend() {
	case "gonum":
		if !strings.Contains(impl, "gonum") || !strings.Contains(gorgoniaBLAS(), "gonum") {
			t.Fatalf("backend gonum, but our kernels use %s and gorgonia uses %s", impl, gorgoniaBLAS())
		}
	case "openblas":
		if !strings.Contains(impl, "netlib") || !strings.Contains(gorgoniaBLAS(), "netlib") {
			t.Fatalf("backend openblas, but our kernels use %s and gorgonia uses %s", impl, gorgoniaBLAS())
		}
	default:
		t.Fatalf("BLASBackend() = %q, want gonum or openblas", BLASBackend())
	}
}

func TestBenchGEMMSmall(t *testing.T) {
	r, err := BenchGEMM(context.Background(), GEMMBenchConfig{M: 64, N: 48, K: 32, Reps: 2})
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxAbsDiff > 1e-4 {
		t.Fatalf("layer and direct GEMM differ by %g", r.MaxAbsDiff)
	}
	line := r.Line()
	for _, key := range []string{"m=64 ", "n=48 ", "k=32 ", "backend=" + BLASBackend() + " ", "layer_gflops=", "direct_gflops=", "overhead_ratio="} {
		if !strings.Contains(line, key) {
			t.Errorf("line %q lacks %q", line, key)
		}
	}
	if r.LayerGFLOPS() <= 0 || r.DirectGFLOPS() <= 0 {
		t.Errorf("non-positive rates in %q", line)
	}
	if _, err := BenchGEMM(context.Background(), GEMMBenchConfig{M: 0, N: 1, K: 1}); err == nil {
		t.Error("m=0 accepted")
	}
}

// BenchmarkGEMMLayer and BenchmarkGEMMDirect time a 512³ float32 GEMM through a compiled
// Program and straight on the backend.
func BenchmarkGEMMLayer(b *testing.B) { benchGEMM(b, true) }

func BenchmarkGEMMDirect(b *testing.B) { benchGEMM(b, false) }

func benchGEMM(b *testing.B, layer bool) {
	const n = 512
	a := make([]float32, n*n)
	for i := range a {
		a[i] = float32(i%7) - 3
	}
	c := make([]float32, n*n)
	var prog *Program
	inputs := map[string]*tensor.Dense{
		"a": tensor.New(tensor.WithShape(n, n), tensor.WithBacking(a)),
		"b": tensor.New(tensor.WithShape(n, n), tensor.WithBacking(a)),
	}
	if layer {
		prog = gemmProgram()
		defer prog.Close()
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if layer {
			if _, err := prog.Run(inputs); err != nil {
				b.Fatal(err)
			}
		} else {
			GEMMDirect(n, n, n, a, a, c)
		}
	}
	b.ReportMetric(2*n*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
