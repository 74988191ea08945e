package base

import (
	"math"
	"math/rand/v2"
	"strings"

	"github.com/latexblend/latexblend/nn"
)

// initParams gives a freshly built UNet or VAE PyTorch's default initialisation, in the
// store's registration order so a seed always gives the same weights: norm scales 1,
// biases 0, and Linear/Conv weights uniform in ±1/√fan_in (kaiming_uniform with a=√5).
func initParams(ps *nn.Params, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x696e6974)) // "init"
	for _, name := range ps.Names() {
		p := ps.Get(name)
		shape := p.Shape()
		data := p.Value.Data().([]float32)
		switch {
		case strings.HasSuffix(name, ".bias"):
			clear(data)
		case len(shape) == 1: // every 1-D weight is a norm's scale
			for i := range data {
				data[i] = 1
			}
		default:
			fanIn := 1
			for _, d := range shape[1:] {
				fanIn *= d
			}
			bound := 1 / math.Sqrt(float64(fanIn))
			for i := range data {
				data[i] = float32((2*rng.Float64() - 1) * bound)
			}
		}
	}
}
