package sampler

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/trainer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	tinyOnce sync.Once
	tiny     *sdxl.Pipeline
	tinyErr  error
)

// loadTiny loads golden tiny-sdxl once per test binary (skipping without the golden
// folder).
func loadTiny(t testing.TB) *sdxl.Pipeline {
	t.Helper()
	dir := golden.Dir(t.(*testing.T))
	tinyOnce.Do(func() { tiny, tinyErr = sdxl.Load(filepath.Join(dir, "tiny-sdxl"), sdxl.LoadOptions{}) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

// randomEntry makes a concept entry for noun on p whose K/V rows are seeded noise of
// the scale of real keys: enough to change the images, cheap to build.
func randomEntry(t testing.TB, p *sdxl.Pipeline, noun string, seed uint64) *blend.Entry {
	t.Helper()
	slots, err := blend.FindSlots(p.Prompt.Tokenizer, "a "+noun, []string{noun})
	if err != nil {
		t.Fatal(err)
	}
	ntok := slots[0].Len()
	r := rand.New(rand.NewPCG(seed, 7))
	e := &blend.Entry{ClassNoun: noun, ModifierToken: "<new1>", NTok: ntok, BaseModel: p.Identity, Recipe: "test", Layers: map[string]blend.LayerKV{}}
	for _, m := range p.UNet.AttentionModules(8, 8) {
		if !m.Cross {
			continue
		}
		l := blend.LayerKV{Channels: m.Channels, K: make([]float32, ntok*m.Channels), V: make([]float32, ntok*m.Channels)}
		for i := range l.K {
			l.K[i] = float32(r.NormFloat64())
			l.V[i] = float32(r.NormFloat64())
		}
		e.Layers[m.Path] = l
	}
	return e
}

// entryBytes encodes e with blend's entry writer. blend writes the base model under
// "base_model" while the bank's import (trainer.ParseEntry) requires "base_model_id", so
// the file is rewritten with both keys until the two agree.
func entryBytes(t testing.TB, e *blend.Entry) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "entry.safetensors")
	if err := blend.WriteEntry(path, e); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	md := f.Metadata()
	var ts []safetensors.Tensor
	for _, info := range f.Tensors() {
		v, shape, err := f.Float32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, safetensors.Tensor{Name: info.Name, Shape: shape, F32: v})
	}
	f.Close()
	if md[trainer.EntryKeyBaseModelID] == "" {
		md[trainer.EntryKeyBaseModelID] = e.BaseModel
	}
	if err := safetensors.WriteFile(path, ts, md); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
