package blend

import (
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
)

// Golden tolerances of ../shared/golden/README.md.
const (
	tolSingle   = 1e-4 // single forwards, bank K/V
	tolPipeline = 5e-4 // multi-step latents
	tolGrad     = 1e-3 // guidance loss and gradient
)

var (
	tinyOnce sync.Once
	tiny     *sdxl.Pipeline
	tinyErr  error
)

// loadTiny loads golden tiny-sdxl once per test binary.
func loadTiny(t *testing.T) *sdxl.Pipeline {
	t.Helper()
	dir := golden.Dir(t)
	tinyOnce.Do(func() { tiny, tinyErr = sdxl.Load(filepath.Join(dir, "tiny-sdxl"), sdxl.LoadOptions{}) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

func openCase(t *testing.T, name string) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "cases", name+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func goldenF32(t *testing.T, f *safetensors.File, name string) ([]float32, []int) {
	t.Helper()
	v, s, err := f.Float32(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v, s
}

// bankEntry builds an Entry from a golden latexblend_bank case (tensors
// "<module>.processor.k/.v").
func bankEntry(t *testing.T, name, noun string) *Entry {
	t.Helper()
	f := openCase(t, name)
	e := &Entry{ClassNoun: noun, Layers: map[string]LayerKV{}}
	for _, n := range f.Names() {
		if strings.HasPrefix(n, "delta.") {
			continue
		}
		mod, what, ok := splitKVName(n)
		if !ok {
			t.Fatalf("unexpected tensor %s", n)
		}
		mod = strings.TrimSuffix(mod, ".processor")
		v, s := goldenF32(t, f, n)
		e.NTok = s[0]
		l := e.Layers[mod]
		l.Channels = s[1]
		if what == "k" {
			l.K = v
		} else {
			l.V = v
		}
		e.Layers[mod] = l
	}
	return e
}

// relErr is max|got−want| / max|want|.
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, m float64
	for i := range got {
		d = math.Max(d, math.Abs(float64(got[i])-float64(want[i])))
		m = math.Max(m, math.Abs(float64(want[i])))
	}
	if m == 0 {
		return d
	}
	return d / m
}

func dense(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
}
