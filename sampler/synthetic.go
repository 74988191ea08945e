package sampler

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/trainer"
)

// SyntheticEntry makes a concept entry for noun on p whose K/V rows are seeded unit
// Gaussian noise (the scale of real keys): a stand-in concept for tests and benchmarks
// that changes the images and costs what a real entry costs, without training.
func SyntheticEntry(p *sdxl.Pipeline, noun string, seed uint64) (*blend.Entry, error) {
	slots, err := blend.FindSlots(p.Prompt.Tokenizer, "a "+noun, []string{noun})
	if err != nil {
		return nil, err
	}
	ntok := slots[0].Len()
	r := rand.New(rand.NewPCG(seed, 7))
	e := &blend.Entry{ClassNoun: noun, ModifierToken: "<new1>", NTok: ntok, BaseModel: p.Identity,
		Recipe: fmt.Sprintf(`{"synthetic":true,"seed":%d}`, seed), Layers: map[string]blend.LayerKV{}}
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
	return e, nil
}

// EncodeEntry returns the bytes of e's entry file as blend's writer makes it, with the
// base model identity also under trainer.EntryKeyBaseModelID: blend writes it as
// "base_model" while the bank's import (trainer.ParseEntry) requires "base_model_id".
func EncodeEntry(e *blend.Entry) ([]byte, error) {
	dir, err := os.MkdirTemp("", "latexblend-entry-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "entry.safetensors")
	if err := blend.WriteEntry(path, e); err != nil {
		return nil, err
	}
	f, err := safetensors.Open(path)
	if err != nil {
		return nil, err
	}
	md := f.Metadata()
	var ts []safetensors.Tensor
	for _, info := range f.Tensors() {
		v, shape, err := f.Float32(info.Name)
		if err != nil {
			f.Close()
			return nil, err
		}
		ts = append(ts, safetensors.Tensor{Name: info.Name, Shape: shape, F32: v})
	}
	f.Close()
	if md[trainer.EntryKeyBaseModelID] == "" {
		md[trainer.EntryKeyBaseModelID] = e.BaseModel
	}
	if err := safetensors.WriteFile(path, ts, md); err != nil {
		return nil, err
	}
	return os.ReadFile(path)
}
