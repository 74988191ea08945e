package blend

import (
	"fmt"
	"math"
)

// Blending guidance's attention-map objective (spec §4), in float64 with its exact
// gradient, so one op can give the UNet graph both the loss and d(loss)/d(probs).

// klTemperature multiplies the pooled maps before the softmax (the reference's *100).
const klTemperature = 100

// klPool is the side of the average-pooling blocks (the reference's 4×4 unfold).
const klPool = 4

// LossConcept is one concept's tokens as the loss sees them.
type LossConcept struct {
	Modifier int   // the modifier (article) slot
	Nouns    []int // the noun's tokens
}

// LossSpec defines the per-layer loss. With LastPositiveOnly (the reference's bug) only
// the last concept's positive term counts.
type LossSpec struct {
	Concepts         []LossConcept
	LastPositiveOnly bool
}

// pooledMaps averages each token column of A [n, l] (n = h·w, row-major grid) over
// klPool×klPool blocks, dropping a remainder as torch's unfold does: [bins] per token.
type pooler struct{ h, w, bh, bw int }

func newPooler(h, w int) (pooler, error) {
	p := pooler{h: h, w: w, bh: h / klPool, bw: w / klPool}
	if p.bh == 0 || p.bw == 0 {
		return p, fmt.Errorf("blend: a %d×%d attention map is smaller than the %d×%d guidance pooling", h, w, klPool, klPool)
	}
	return p, nil
}

func (p pooler) bins() int { return p.bh * p.bw }

// pool returns the pooled column t of a [n, l].
func (p pooler) pool(a []float64, l, t int) []float64 {
	out := make([]float64, p.bins())
	for by := 0; by < p.bh; by++ {
		for bx := 0; bx < p.bw; bx++ {
			var s float64
			for y := by * klPool; y < (by+1)*klPool; y++ {
				for x := bx * klPool; x < (bx+1)*klPool; x++ {
					s += a[(y*p.w+x)*l+t]
				}
			}
			out[by*p.bw+bx] = s / (klPool * klPool)
		}
	}
	return out
}

// unpool adds the gradient g of pooled column t back into ga [n, l].
func (p pooler) unpool(ga []float64, l, t int, g []float64) {
	for by := 0; by < p.bh; by++ {
		for bx := 0; bx < p.bw; bx++ {
			v := g[by*p.bw+bx] / (klPool * klPool)
			for y := by * klPool; y < (by+1)*klPool; y++ {
				for x := bx * klPool; x < (bx+1)*klPool; x++ {
					ga[(y*p.w+x)*l+t] += v
				}
			}
		}
	}
}

// tempSoftmax is softmax(klTemperature·x).
func tempSoftmax(x []float64) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, v)
	}
	out := make([]float64, len(x))
	var s float64
	for i, v := range x {
		out[i] = math.Exp(klTemperature * (v - m))
		s += out[i]
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// symKL is ½[KL(p‖q)+KL(q‖p)] between p = softmax(100x) and q = softmax(100y), with
// torch.distributions.Categorical's log(clamp(prob, eps, 1-eps)); it returns the value
// and, when grad is set, d/dx and d/dy.
func symKL(x, y []float64, eps float64, grad bool) (float64, []float64, []float64) {
	p, q := tempSoftmax(x), tempSoftmax(y)
	n := len(p)
	lp, lq := make([]float64, n), make([]float64, n)
	for i := range p {
		lp[i] = math.Log(math.Min(math.Max(p[i], eps), 1-eps))
		lq[i] = math.Log(math.Min(math.Max(q[i], eps), 1-eps))
	}
	var d float64
	for i := range p {
		d += (p[i] - q[i]) * (lp[i] - lq[i])
	}
	d /= 2
	if !grad {
		return d, nil, nil
	}
	gp, gq := make([]float64, n), make([]float64, n)
	for i := range p {
		gp[i] = (lp[i] - lq[i]) / 2
		gq[i] = (lq[i] - lp[i]) / 2
		if p[i] >= eps && p[i] <= 1-eps {
			gp[i] += (p[i] - q[i]) / p[i] / 2
		}
		if q[i] >= eps && q[i] <= 1-eps {
			gq[i] += (q[i] - p[i]) / q[i] / 2
		}
	}
	return d, softmaxBack(p, gp), softmaxBack(q, gq)
}

// softmaxBack maps d/dp to d/dx for p = softmax(100x).
func softmaxBack(p, g []float64) []float64 {
	var dot float64
	for i := range p {
		dot += g[i] * p[i]
	}
	out := make([]float64, len(p))
	for i := range p {
		out[i] = klTemperature * p[i] * (g[i] - dot)
	}
	return out
}

// layerLoss evaluates one layer's loss on the head-averaged map A [n, l] of an h×w
// grid; with grad it also returns d(loss)/dA.
func layerLoss(a []float64, h, w, l int, spec LossSpec, eps float64, grad bool) (float64, []float64, error) {
	pl, err := newPooler(h, w)
	if err != nil {
		return 0, nil, err
	}
	pooled := map[int][]float64{}
	col := func(t int) []float64 {
		if v, ok := pooled[t]; ok {
			return v
		}
		v := pl.pool(a, l, t)
		pooled[t] = v
		return v
	}
	var ga []float64
	if grad {
		ga = make([]float64, len(a))
	}
	// maxPair adds the largest D over the pairs (first maximum wins, like Python's max)
	// with weight wgt, and its gradient.
	maxPair := func(pairs [][2]int, wgt float64) float64 {
		best, bi := math.Inf(-1), -1
		for i, pr := range pairs {
			if d, _, _ := symKL(col(pr[0]), col(pr[1]), eps, false); d > best {
				best, bi = d, i
			}
		}
		if grad {
			pr := pairs[bi]
			_, gx, gy := symKL(col(pr[0]), col(pr[1]), eps, true)
			for i := range gx {
				gx[i] *= wgt
				gy[i] *= wgt
			}
			pl.unpool(ga, l, pr[0], gx)
			pl.unpool(ga, l, pr[1], gy)
		}
		return wgt * best
	}
	var loss float64
	for ci, c := range spec.Concepts {
		for _, t := range append([]int{c.Modifier}, c.Nouns...) {
			if t < 0 || t >= l {
				return 0, nil, fmt.Errorf("blend: guidance token %d is outside the %d keys", t, l)
			}
		}
		if !spec.LastPositiveOnly || ci == len(spec.Concepts)-1 {
			var pairs [][2]int
			for _, d := range c.Nouns {
				pairs = append(pairs, [2]int{c.Modifier, d})
			}
			loss += maxPair(pairs, 1)
		}
		src := append([]int{c.Modifier}, c.Nouns...)
		for ri, r := range spec.Concepts {
			if ri == ci {
				continue
			}
			neg := append([]int{r.Modifier}, r.Nouns...)
			wgt := -1 / float64(len(neg))
			for _, j := range neg {
				var pairs [][2]int
				for _, s := range src {
					pairs = append(pairs, [2]int{s, j})
				}
				loss += maxPair(pairs, wgt)
			}
		}
	}
	return loss, ga, nil
}
