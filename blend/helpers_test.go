package blend

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
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

// bankEntry builds an Entry from a golden latexblend_bank case (tensors
// "<module>.processor.k/.v").
func bankEntry(t *testing.T, name, noun string) *Entry {
	t.Helper()
	f := goldentest.Case(t, name)
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
		v, s := goldentest.F32(t, f, n)
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

func dense(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(append([]float32(nil), data...)))
}
