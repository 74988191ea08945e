package vae

import (
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
)

// goldenTol is golden/README.md's tolerance for single forwards: max|go-ref| is at most
// this fraction of max|ref|.
const goldenTol = 1e-4

func loadTinyVAE(t *testing.T) *Model {
	t.Helper()
	m, err := Load(golden.Path(t, "tiny-sdxl", "vae"), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// readCase reads the named tensors of cases/vae.safetensors.
func readCase(t *testing.T, names ...string) map[string]*tensor.Dense {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "cases", "vae.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*tensor.Dense{}
	for _, n := range names {
		d, shape, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
	}
	return out
}

func TestGoldenEncode(t *testing.T) {
	m := loadTinyVAE(t)
	c := readCase(t, "image", "mean", "logvar", "std")
	d, err := m.Encode(c["image"])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  *tensor.Dense
	}{{"mean", d.Mean}, {"logvar", d.LogVar}, {"std", d.Std}} {
		e := maxRelDiff(t, tc.got, c[tc.name])
		t.Logf("%s: max|go-ref|/max|ref| = %.3g", tc.name, e)
		if e > goldenTol {
			t.Errorf("%s differs from the reference by %.3g of its magnitude (tolerance %g)", tc.name, e, goldenTol)
		}
	}
}

func TestGoldenDecode(t *testing.T) {
	m := loadTinyVAE(t)
	c := readCase(t, "latent", "decoded")
	img, err := m.Decode(c["latent"])
	if err != nil {
		t.Fatal(err)
	}
	e := maxRelDiff(t, img, c["decoded"])
	t.Logf("decoded: max|go-ref|/max|ref| = %.3g", e)
	if e > goldenTol {
		t.Errorf("decoded differs from the reference by %.3g of its magnitude (tolerance %g)", e, goldenTol)
	}
}

// TestGoldenFromModel opens the tiny-sdxl folder as a pipeline would.
func TestGoldenFromModel(t *testing.T) {
	md, err := diffusers.Open(golden.Path(t, "tiny-sdxl"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := FromModel(md, "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := m.ScalingFactor(); got != 0.18215 {
		t.Errorf("scaling factor %v, want 0.18215 (tiny-sdxl vae/config.json)", got)
	}
	if got := m.DownFactor(); got != 2 {
		t.Errorf("down factor %d, want 2 for two blocks", got)
	}
}
