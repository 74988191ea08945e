package nn

import (
	"math/rand"
	"runtime"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func TestParallelForCoversEveryIndexOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{0, 1, 3, 4, 5, 1000, 1 << 16} {
		hits := make([]int32, n)
		parallelFor(n, minParallelWork, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d visited %d times", n, i, h)
			}
		}
	}
}

// TestParallelKernelsMatchSerial runs forward and backward of ops at sizes where the
// kernels split their loops, once on one CPU and once on four, and requires identical
// results.
func TestParallelKernelsMatchSerial(t *testing.T) {
	cases := []opCase{
		{name: "GELU", inputs: []namedShape{in("x", 64, 1024)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.GELU(n["x"]) }},
		{name: "Softmax", inputs: []namedShape{in("x", 64, 1024)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.Softmax(n["x"], true) }},
		{name: "LayerNorm", inputs: []namedShape{in("x", 64, 1024), in("g", 1024), in("b", 1024)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.LayerNorm(n["x"], n["g"], n["b"], 1e-5)
		}},
		{name: "GroupNorm", inputs: []namedShape{in("x", 2, 32, 32, 32), in("g", 32), in("b", 32)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.GroupNorm(n["x"], n["g"], n["b"], 8, 1e-5)
		}},
		{name: "Conv2d", inputs: []namedShape{in("x", 1, 16, 32, 32), in("w", 8, 16, 3, 3)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Conv2d(n["x"], n["w"], nil, Conv2dOptions{Pad: 1})
		}},
		{name: "Upsample2x", inputs: []namedShape{in("x", 1, 16, 32, 32)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) { return b.Upsample2x(n["x"]) }},
		{name: "Attention", inputs: []namedShape{in("q", 1, 256, 64), in("k", 1, 256, 64), in("v", 1, 256, 64)}, build: func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Attention(n["q"], n["k"], n["v"], 2, 0.125, false)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vals := caseInputs(t, tc, rand.New(rand.NewSource(12)))
			run := func(procs int) *Result {
				defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
				prog := opProgram(tc, tensor.Float64)
				defer prog.Close()
				r, err := prog.Run(vals)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			serial, par := run(1), run(4)
			if relL2(f64s(par.Outputs["y"]), f64s(serial.Outputs["y"])) > 1e-15 {
				t.Error("outputs differ")
			}
			for name, g := range serial.InputGrads {
				if e := relL2(f64s(par.InputGrads[name]), f64s(g)); e > 1e-14 {
					t.Errorf("gradient of %s differs by %g", name, e)
				}
			}
		})
	}
}
