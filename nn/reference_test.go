package nn

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// forward runs a one-op graph on float32 inputs and returns its output as float64.
func forward(t *testing.T, inputs map[string]*tensor.Dense, build func(b *Builder, n map[string]*G.Node) (*G.Node, error)) []float64 {
	t.Helper()
	prog := NewProgram(NewParams(tensor.Float32), func(b *Builder) error {
		nodes := map[string]*G.Node{}
		for name := range inputs {
			n, err := b.Input(name)
			if err != nil {
				return err
			}
			nodes[name] = n
		}
		y, err := build(b, nodes)
		if err != nil {
			return err
		}
		b.Output("y", y)
		return nil
	}, Hooks{})
	defer prog.Close()
	r, err := prog.Run(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return f64s(r.Outputs["y"])
}

func TestConv2dMatchesDirectLoops(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	for _, tc := range []struct {
		name                  string
		b, cin, h, w, cout, k int
		opts                  Conv2dOptions
	}{
		{"3x3 pad1", 2, 3, 7, 6, 4, 3, Conv2dOptions{Pad: 1}},
		{"3x3 stride2 pad1", 1, 2, 8, 8, 3, 3, Conv2dOptions{Stride: 2, Pad: 1}},
		{"3x3 stride2 pad bottom-right", 1, 2, 8, 8, 3, 3, Conv2dOptions{Stride: 2, PadBottom: 1, PadRight: 1}},
		{"1x1", 2, 5, 4, 4, 3, 1, Conv2dOptions{}},
		{"3x3 stride1 uneven oversized pads", 1, 2, 4, 5, 3, 3, Conv2dOptions{PadTop: 2, PadLeft: 3, PadRight: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := randTensor(rng, tensor.Float32, tc.b, tc.cin, tc.h, tc.w)
			w := randTensor(rng, tensor.Float32, tc.cout, tc.cin, tc.k, tc.k)
			bias := randTensor(rng, tensor.Float32, tc.cout)
			got := forward(t, map[string]*tensor.Dense{"x": x, "w": w, "b": bias}, func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
				return b.Conv2d(n["x"], n["w"], n["b"], tc.opts)
			})
			s := max(tc.opts.Stride, 1)
			pt, pl, pb, pr := tc.opts.pads()
			ho, wo := (tc.h+pt+pb-tc.k)/s+1, (tc.w+pl+pr-tc.k)/s+1
			xd, wd, bd := f64s(x), f64s(w), f64s(bias)
			want := make([]float64, tc.b*tc.cout*ho*wo)
			for b := 0; b < tc.b; b++ {
				for co := 0; co < tc.cout; co++ {
					for oy := 0; oy < ho; oy++ {
						for ox := 0; ox < wo; ox++ {
							sum := bd[co]
							for ci := 0; ci < tc.cin; ci++ {
								for ki := 0; ki < tc.k; ki++ {
									for kj := 0; kj < tc.k; kj++ {
										iy, ix := oy*s-pt+ki, ox*s-pl+kj
										if iy >= 0 && iy < tc.h && ix >= 0 && ix < tc.w {
											sum += xd[((b*tc.cin+ci)*tc.h+iy)*tc.w+ix] * wd[((co*tc.cin+ci)*tc.k+ki)*tc.k+kj]
										}
									}
								}
							}
							want[((b*tc.cout+co)*ho+oy)*wo+ox] = sum
						}
					}
				}
			}
			if e := relL2(got, want); e > 1e-6 {
				t.Fatalf("conv differs from direct loops by %g (relative L2)", e)
			}
		})
	}
}

func TestAttentionMatchesDirectLoops(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	for _, causal := range []bool{false, true} {
		const b, lq, lk, h, dh, dv = 2, 5, 7, 3, 4, 2
		q := randTensor(rng, tensor.Float32, b, lq, h*dh)
		k := randTensor(rng, tensor.Float32, b, lk, h*dh)
		v := randTensor(rng, tensor.Float32, b, lk, h*dv)
		scale := 1 / math.Sqrt(dh)
		fused := forward(t, map[string]*tensor.Dense{"q": q, "k": k, "v": v}, func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
			return bb.Attention(n["q"], n["k"], n["v"], h, scale, causal)
		})
		unfused := forward(t, map[string]*tensor.Dense{"q": q, "k": k, "v": v}, func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
			s, err := bb.AttentionScores(n["q"], n["k"], h, scale)
			if err != nil {
				return nil, err
			}
			p, err := bb.Softmax(s, causal)
			if err != nil {
				return nil, err
			}
			return bb.AttentionApply(p, n["v"])
		})
		qd, kd, vd := f64s(q), f64s(k), f64s(v)
		want := make([]float64, b*lq*h*dv)
		for bi := 0; bi < b; bi++ {
			for hi := 0; hi < h; hi++ {
				for i := 0; i < lq; i++ {
					limit := lk
					if causal {
						limit = min(lk, i+lk-lq+1)
					}
					scores := make([]float64, limit)
					m := math.Inf(-1)
					for j := 0; j < limit; j++ {
						for d := 0; d < dh; d++ {
							scores[j] += qd[(bi*lq+i)*h*dh+hi*dh+d] * kd[(bi*lk+j)*h*dh+hi*dh+d]
						}
						scores[j] *= scale
						m = math.Max(m, scores[j])
					}
					var z float64
					for j := range scores {
						scores[j] = math.Exp(scores[j] - m)
						z += scores[j]
					}
					for j := range scores {
						for d := 0; d < dv; d++ {
							want[(bi*lq+i)*h*dv+hi*dv+d] += scores[j] / z * vd[(bi*lk+j)*h*dv+hi*dv+d]
						}
					}
				}
			}
		}
		if e := relL2(fused, want); e > 1e-6 {
			t.Errorf("causal=%v: fused attention differs from direct loops by %g", causal, e)
		}
		if e := relL2(unfused, want); e > 1e-6 {
			t.Errorf("causal=%v: unfused attention differs from direct loops by %g", causal, e)
		}
	}
}

// TestGroupNormSDXLSize checks the forward at a size where gorgonia's built-in GroupNorm
// is wrong (more than 128 elements per group), against a float64 reference.
func TestGroupNormSDXLSize(t *testing.T) {
	rng := rand.New(rand.NewSource(10))
	const b, c, hw, groups = 2, 64, 16, 32
	// An offset and scale make the float32 variance harder to get right.
	xs := make([]float32, b*c*hw*hw)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64()*3 + 5)
	}
	x := tensor.New(tensor.WithShape(b, c, hw, hw), tensor.WithBacking(xs))
	gamma := randTensor(rng, tensor.Float32, c)
	beta := randTensor(rng, tensor.Float32, c)
	got := forward(t, map[string]*tensor.Dense{"x": x, "gamma": gamma, "beta": beta}, func(bb *Builder, n map[string]*G.Node) (*G.Node, error) {
		return bb.GroupNorm(n["x"], n["gamma"], n["beta"], groups, 1e-5)
	})
	xd, gd, bd := f64s(x), f64s(gamma), f64s(beta)
	cg, n := c/groups, c/groups*hw*hw
	want := make([]float64, len(xd))
	for bi := 0; bi < b; bi++ {
		for g := 0; g < groups; g++ {
			seg := xd[(bi*groups+g)*n : (bi*groups+g+1)*n]
			var mean, vr float64
			for _, v := range seg {
				mean += v
			}
			mean /= float64(n)
			for _, v := range seg {
				vr += (v - mean) * (v - mean)
			}
			vr /= float64(n)
			for i, v := range seg {
				ch := g*cg + i/(hw*hw)
				want[(bi*groups+g)*n+i] = (v-mean)/math.Sqrt(vr+1e-5)*gd[ch] + bd[ch]
			}
		}
	}
	if e := relL2(got, want); e > 1e-6 {
		t.Fatalf("GroupNorm [2,64,16,16]/32 differs from the reference by %g", e)
	}
}

func TestSoftmaxIsStableForLargeScores(t *testing.T) {
	x := tensor.New(tensor.WithShape(1, 3), tensor.WithBacking([]float32{1000, 1001, 1002}))
	got := forward(t, map[string]*tensor.Dense{"x": x}, func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
		return b.Softmax(n["x"], false)
	})
	z := 1 + math.Exp(1) + math.Exp(2)
	want := []float64{1 / z, math.Exp(1) / z, math.Exp(2) / z}
	if e := relL2(got, want); e > 1e-6 || math.IsNaN(e) {
		t.Fatalf("softmax(1000, 1001, 1002) = %v, want %v", got, want)
	}
}

func TestActivationsAtKnownPoints(t *testing.T) {
	x := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float64{-1, 0, 2}))
	for _, tc := range []struct {
		name string
		want []float64
	}{
		// GELU(x) = x·Φ(x): Φ(-1) = 0.158655…, Φ(2) = 0.977249…
		{"gelu", []float64{-0.15865525393145707, 0, 1.9544997361036416}},
		{"quick_gelu", []float64{-1 / (1 + math.Exp(1.702)), 0, 2 / (1 + math.Exp(-3.404))}},
		{"silu", []float64{-1 / (1 + math.E), 0, 2 / (1 + math.Exp(-2))}},
	} {
		got := forward(t, map[string]*tensor.Dense{"x": to32(map[string]*tensor.Dense{"x": x})["x"]}, func(b *Builder, n map[string]*G.Node) (*G.Node, error) {
			return b.Activation(tc.name, n["x"])
		})
		if e := relL2(got, tc.want); e > 1e-6 {
			t.Errorf("%s(-1, 0, 2) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHooksSeeEveryAttentionAndCanEditScores(t *testing.T) {
	rng := rand.New(rand.NewSource(11))
	ps := NewParams(tensor.Float32)
	m := newCrossAttnModel(ps)
	ps.Randomize(rng, 0.5)
	inputs := map[string]*tensor.Dense{"x": randTensor(rng, tensor.Float32, 1, 3, 8), "ctx": randTensor(rng, tensor.Float32, 1, 4, 6)}
	run := func(h Hooks) []float64 {
		prog := NewProgram(ps, m.build, h)
		defer prog.Close()
		r, err := prog.Run(inputs)
		if err != nil {
			t.Fatal(err)
		}
		return f64s(r.Outputs["out"])
	}
	base := run(Hooks{})
	var seen []string
	identity := run(Hooks{
		KV: func(_ *Builder, module string, k, v *G.Node) (*G.Node, *G.Node, error) {
			seen = append(seen, module)
			return k, v, nil
		},
		Scores: func(_ *Builder, _ string, s *G.Node) (*G.Node, error) { return s, nil },
	})
	if len(seen) != 1 || seen[0] != "blk.attn2" {
		t.Fatalf("KV hook saw modules %v, want [blk.attn2]", seen)
	}
	if e := relL2(identity, base); e > 1e-6 {
		t.Fatalf("identity hooks (unfused path) changed the output by %g", e)
	}
	// Making all scores equal turns attention into the mean of the values.
	uniform := run(Hooks{Scores: func(b *Builder, _ string, s *G.Node) (*G.Node, error) {
		return G.Mul(s, b.Scalar(0))
	}})
	if e := relL2(uniform, base); e < 1e-3 {
		t.Fatal("a score hook that zeroes the scores did not change the output")
	}
}
