package sdxl

import (
	"math"

	"gorgonia.org/tensor"
)

// Noise is the pipeline's deterministic Gaussian generator: a PCG32 stream (O'Neill's
// pcg32, XSH-RR output of a 64-bit LCG) turned into standard normal values with
// Marsaglia's polar form of the Box–Muller transform. The logarithm it needs is our own
// (detLog), written with explicit roundings, so every platform and Go version produces
// the same bits: math.Log has assembly versions on some architectures and the compiler
// may fuse multiply-adds on others.
//
// It is not torch's generator: a seed gives different latents here than
// torch.manual_seed does in diffusers. To reproduce a diffusers image exactly, pass its
// initial latents explicitly (Request.InitLatents, `generate --init-latents`).
type Noise struct {
	state, inc uint64
	// spare holds the second value of the last polar pair.
	spare    float64
	hasSpare bool
}

// pcg32 constants from the reference implementation (pcg_basic.c).
const (
	pcgMultiplier = 6364136223846793005
	// noiseStream selects the PCG stream; fixed so a seed means the same noise forever.
	noiseStream = 0x6c61_7465_7862_6c64 // "latexbld"
)

// NewNoise returns the generator for seed, seeded as pcg32_srandom(seed, noiseStream).
func NewNoise(seed uint64) *Noise { return newPCG(seed, noiseStream) }

// newPCG is pcg32_srandom(initstate, initseq).
func newPCG(initState, initSeq uint64) *Noise {
	g := &Noise{inc: initSeq<<1 | 1}
	g.next32()
	g.state += initState
	g.next32()
	return g
}

// next32 advances the LCG and returns the permuted output of the previous state.
func (g *Noise) next32() uint32 {
	old := g.state
	g.state = old*pcgMultiplier + g.inc
	xorshifted := uint32(((old >> 18) ^ old) >> 27)
	rot := uint32(old >> 59)
	return xorshifted>>rot | xorshifted<<((-rot)&31)
}

// Uint64 returns 64 random bits (two outputs, high word first).
func (g *Noise) Uint64() uint64 {
	hi := uint64(g.next32())
	return hi<<32 | uint64(g.next32())
}

// Float64 returns a uniform value in [0, 1) with 53 random bits.
func (g *Noise) Float64() float64 {
	return float64(g.Uint64()>>11) * (1.0 / (1 << 53))
}

// Normal returns a standard normal value. Values come in pairs from the polar method;
// uniform pairs outside the unit disc (or at its centre) are rejected and redrawn.
func (g *Noise) Normal() float64 {
	if g.hasSpare {
		g.hasSpare = false
		return g.spare
	}
	for {
		u := 2*g.Float64() - 1
		v := 2*g.Float64() - 1
		s := float64(u*u) + float64(v*v)
		if s >= 1 || s == 0 {
			continue
		}
		f := math.Sqrt(float64(-2*detLog(s)) / s) // Sqrt is correctly rounded everywhere
		g.spare, g.hasSpare = float64(v*f), true
		return float64(u * f)
	}
}

// Fill writes standard normal values, rounded to float32, into dst in order.
func (g *Noise) Fill(dst []float32) {
	for i := range dst {
		dst[i] = float32(g.Normal())
	}
}

// NoiseSource draws the random numbers of one generation. Each image of a batch has its
// own generator, seeded with seed+row, so image i of a batch is the same image as a
// single-image run with seed+i; the initial latents and then any step noise (DDPM) come
// from that one stream, in that order.
type NoiseSource struct {
	rows []*Noise
}

// NewNoiseSource returns generators for n images starting at seed.
func NewNoiseSource(seed uint64, n int) *NoiseSource {
	s := &NoiseSource{rows: make([]*Noise, n)}
	for i := range s.rows {
		s.rows[i] = NewNoise(seed + uint64(i))
	}
	return s
}

// Tensor returns float32 noise of the given shape, whose axis 0 is the batch: row i
// comes from generator i.
func (s *NoiseSource) Tensor(shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	s.FillRows(data)
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// FillRows splits dst into one equal part per image and fills part i from generator i.
func (s *NoiseSource) FillRows(dst []float32) {
	per := len(dst) / len(s.rows)
	for i, g := range s.rows {
		g.Fill(dst[i*per : (i+1)*per])
	}
}
