package clip

import (
	"math/rand/v2"
	"strings"
)

// InitRandom fills the model deterministically from seed, the way transformers
// initialises a fresh CLIP text model in spirit: layer-norm weights 1, biases 0, every
// other weight N(0, initializer_range²). It is for benchmarks and tests that need a
// model of a given size without a checkpoint.
func (m *TextModel) InitRandom(seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x636c6970)) // "clip"
	std := m.Config.InitializerRange
	if std <= 0 {
		std = 0.02
	}
	for _, full := range m.names {
		p := m.params.Get(full)
		key := m.checkpointKey(full)
		var fill func() float64
		switch {
		case strings.HasSuffix(key, ".bias"):
			fill = func() float64 { return 0 }
		case strings.Contains(key, "layer_norm"):
			fill = func() float64 { return 1 }
		default:
			fill = func() float64 { return rng.NormFloat64() * std }
		}
		switch d := p.Value.Data().(type) {
		case []float32:
			for i := range d {
				d[i] = float32(fill())
			}
		case []float64:
			for i := range d {
				d[i] = fill()
			}
		}
	}
}
