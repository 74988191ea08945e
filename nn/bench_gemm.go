package nn

import (
	"context"
	"fmt"
	"math/rand"
	"time"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// GEMMBenchConfig sizes a GEMM benchmark: C [M, N] = A [M, K]·B [K, N] in float32.
type GEMMBenchConfig struct {
	M, N, K int
	// Reps is the number of timed repetitions of each variant; the best counts.
	Reps int
}

// GEMMBenchResult compares one GEMM through our layer (a compiled Program running the
// MatMul op: input binding, TapeMachine dispatch, output allocation and read-back) with
// the same GEMM called directly on the BLAS backend.
type GEMMBenchResult struct {
	GEMMBenchConfig
	Backend       string
	LayerSeconds  float64
	DirectSeconds float64
	// MaxAbsDiff is the largest difference between the two results (they must agree).
	MaxAbsDiff float64
}

// LayerGFLOPS is 2·M·N·K / LayerSeconds / 1e9.
func (r GEMMBenchResult) LayerGFLOPS() float64 { return r.flops() / r.LayerSeconds / 1e9 }

// DirectGFLOPS is 2·M·N·K / DirectSeconds / 1e9.
func (r GEMMBenchResult) DirectGFLOPS() float64 { return r.flops() / r.DirectSeconds / 1e9 }

// OverheadRatio is LayerSeconds / DirectSeconds: 1 means the layer adds nothing.
func (r GEMMBenchResult) OverheadRatio() float64 { return r.LayerSeconds / r.DirectSeconds }

func (r GEMMBenchResult) flops() float64 { return 2 * float64(r.M) * float64(r.N) * float64(r.K) }

// Line is the machine-readable summary.
func (r GEMMBenchResult) Line() string {
	return fmt.Sprintf("m=%d n=%d k=%d backend=%s layer_gflops=%.2f direct_gflops=%.2f overhead_ratio=%.3f",
		r.M, r.N, r.K, r.Backend, r.LayerGFLOPS(), r.DirectGFLOPS(), r.OverheadRatio())
}

// BenchGEMM times the GEMM both ways, alternating them so that frequency and cache
// effects hit both alike, and keeps the best time of each.
func BenchGEMM(ctx context.Context, cfg GEMMBenchConfig) (GEMMBenchResult, error) {
	if cfg.M <= 0 || cfg.N <= 0 || cfg.K <= 0 {
		return GEMMBenchResult{}, fmt.Errorf("nn: GEMM benchmark: m=%d n=%d k=%d must be positive", cfg.M, cfg.N, cfg.K)
	}
	if cfg.Reps <= 0 {
		cfg.Reps = 5
	}
	rng := rand.New(rand.NewSource(1))
	a := make([]float32, cfg.M*cfg.K)
	bm := make([]float32, cfg.K*cfg.N)
	for i := range a {
		a[i] = float32(rng.NormFloat64())
	}
	for i := range bm {
		bm[i] = float32(rng.NormFloat64())
	}
	inputs := map[string]*tensor.Dense{
		"a": tensor.New(tensor.WithShape(cfg.M, cfg.K), tensor.WithBacking(a)),
		"b": tensor.New(tensor.WithShape(cfg.K, cfg.N), tensor.WithBacking(bm)),
	}
	prog := gemmProgram()
	defer prog.Close()
	res := GEMMBenchResult{GEMMBenchConfig: cfg, Backend: BLASBackend()}
	// Warm up both paths (compiles the graph, touches the memory).
	warm, err := prog.Run(inputs)
	if err != nil {
		return res, err
	}
	direct := make([]float32, cfg.M*cfg.N)
	GEMMDirect(cfg.M, cfg.N, cfg.K, a, bm, direct)
	for i, v := range warm.Outputs["c"].Data().([]float32) {
		res.MaxAbsDiff = max(res.MaxAbsDiff, float64(abs32(v-direct[i])))
	}
	for rep := 0; rep < cfg.Reps; rep++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		start := time.Now()
		if _, err := prog.Run(inputs); err != nil {
			return res, err
		}
		if d := time.Since(start).Seconds(); rep == 0 || d < res.LayerSeconds {
			res.LayerSeconds = d
		}
		start = time.Now()
		GEMMDirect(cfg.M, cfg.N, cfg.K, a, bm, direct)
		if d := time.Since(start).Seconds(); rep == 0 || d < res.DirectSeconds {
			res.DirectSeconds = d
		}
	}
	return res, nil
}

// gemmProgram is a Program computing output "c" = a·b for inputs "a", "b".
func gemmProgram() *Program {
	return NewProgram(NewParams(tensor.Float32), func(b *Builder) error {
		x, err := b.Input("a")
		if err != nil {
			return err
		}
		y, err := b.Input("b")
		if err != nil {
			return err
		}
		z, err := b.MatMul(x, y)
		if err != nil {
			return err
		}
		b.Output("c", z)
		return nil
	}, Hooks{})
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// gorgoniaBLAS reports the BLAS gorgonia's own ops use, for checking that the openblas
// build routes them too.
func gorgoniaBLAS() string { return fmt.Sprintf("%T", G.WhichBLAS()) }
