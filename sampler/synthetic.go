package sampler

import (
	"fmt"
	"math/rand/v2"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/model/sdxl"
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
