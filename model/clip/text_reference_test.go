package clip

import (
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
)

// smallTextConfig is a CLIP text config small enough for exhaustive checks: 12 tokens,
// 8 wide, 2 heads, 2 layers, 6 positions.
func smallTextConfig(act string, projection bool) diffusers.CLIPTextConfig {
	c := diffusers.DefaultCLIPTextConfig()
	c.Architectures = []string{"CLIPTextModel"}
	if projection {
		c.Architectures = []string{"CLIPTextModelWithProjection"}
	}
	c.VocabSize, c.HiddenSize, c.IntermediateSize, c.ProjectionDim = 12, 8, 10, 6
	c.NumHiddenLayers, c.NumAttentionHeads, c.MaxPositionEmbeddings = 2, 2, 6
	c.HiddenAct = act
	return c
}

// refParams reads a store's float64 parameters by checkpoint key.
type refParams map[string][]float64

func refParamsOf(m *TextModel) refParams {
	r := refParams{}
	for i, key := range m.ParamNames() {
		p := m.Params().Get(m.names[i])
		switch d := p.Value.Data().(type) {
		case []float64:
			r[key] = d
		case []float32:
			r[key] = make([]float64, len(d))
			for j, v := range d {
				r[key][j] = float64(v)
			}
		}
	}
	return r
}

// refForward is a plain, loop-by-loop CLIP text transformer written from the
// transformers 4.30.2 code path (CLIPTextTransformer), independent of nn: it returns the
// hidden states, the final-normed state and the pooled (and projected) vector for one
// sequence.
func refForward(cfg diffusers.CLIPTextConfig, w refParams, ids []int) (hidden [][][]float64, last [][]float64, pooled, proj []float64) {
	d, f, heads := cfg.HiddenSize, cfg.IntermediateSize, cfg.NumAttentionHeads
	dh := d / heads
	l := len(ids)
	h := make([][]float64, l)
	for i, id := range ids {
		h[i] = make([]float64, d)
		for j := range h[i] {
			h[i][j] = w["text_model.embeddings.token_embedding.weight"][id*d+j] + w["text_model.embeddings.position_embedding.weight"][i*d+j]
		}
	}
	snapshot := func() [][]float64 {
		c := make([][]float64, l)
		for i := range h {
			c[i] = append([]float64(nil), h[i]...)
		}
		return c
	}
	hidden = append(hidden, snapshot())
	ln := func(x []float64, name string) []float64 {
		var mean, vr float64
		for _, v := range x {
			mean += v
		}
		mean /= float64(len(x))
		for _, v := range x {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(len(x))
		out := make([]float64, len(x))
		for j, v := range x {
			out[j] = (v-mean)/math.Sqrt(vr+cfg.LayerNormEps)*w[name+".weight"][j] + w[name+".bias"][j]
		}
		return out
	}
	lin := func(x []float64, name string, out int, bias bool) []float64 {
		wt := w[name+".weight"]
		y := make([]float64, out)
		for o := range y {
			for j, v := range x {
				y[o] += wt[o*len(x)+j] * v
			}
			if bias {
				y[o] += w[name+".bias"][o]
			}
		}
		return y
	}
	act := func(x float64) float64 {
		if cfg.HiddenAct == "quick_gelu" {
			return x / (1 + math.Exp(-1.702*x))
		}
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	}
	for n := 0; n < cfg.NumHiddenLayers; n++ {
		p := "text_model.encoder.layers." + strconv.Itoa(n) + "."
		q, k, v := make([][]float64, l), make([][]float64, l), make([][]float64, l)
		for i := range h {
			x := ln(h[i], p+"layer_norm1")
			q[i], k[i], v[i] = lin(x, p+"self_attn.q_proj", d, true), lin(x, p+"self_attn.k_proj", d, true), lin(x, p+"self_attn.v_proj", d, true)
		}
		for i := range h {
			o := make([]float64, d)
			for hd := 0; hd < heads; hd++ {
				s := make([]float64, i+1) // causal: keys 0..i
				mx := math.Inf(-1)
				for j := 0; j <= i; j++ {
					for c := hd * dh; c < (hd+1)*dh; c++ {
						s[j] += q[i][c] * k[j][c]
					}
					s[j] /= math.Sqrt(float64(dh))
					mx = math.Max(mx, s[j])
				}
				var z float64
				for j := range s {
					s[j] = math.Exp(s[j] - mx)
					z += s[j]
				}
				for j := range s {
					for c := hd * dh; c < (hd+1)*dh; c++ {
						o[c] += s[j] / z * v[j][c]
					}
				}
			}
			a := lin(o, p+"self_attn.out_proj", d, true)
			for j := range h[i] {
				h[i][j] += a[j]
			}
		}
		for i := range h {
			m := lin(ln(h[i], p+"layer_norm2"), p+"mlp.fc1", f, true)
			for j := range m {
				m[j] = act(m[j])
			}
			m = lin(m, p+"mlp.fc2", d, true)
			for j := range h[i] {
				h[i][j] += m[j]
			}
		}
		hidden = append(hidden, snapshot())
	}
	last = make([][]float64, l)
	for i := range h {
		last[i] = ln(h[i], "text_model.final_layer_norm")
	}
	pooled = last[PooledPosition(ids)]
	if cfg.WithProjection() {
		proj = lin(pooled, "text_projection", cfg.ProjectionDim, false)
	}
	return hidden, last, pooled, proj
}

// TestForwardMatchesReference compares the graph forward with refForward for both
// activations, with and without projection, over a batch whose rows pool at different
// positions (one holds an id above the "EOS" so argmax moves).
func TestForwardMatchesReference(t *testing.T) {
	ids := [][]int{{9, 3, 4, 10, 10, 10}, {9, 11, 5, 10, 10, 10}, {9, 2, 2, 2, 2, 10}}
	for _, tc := range []struct {
		act  string
		proj bool
	}{{"gelu", true}, {"quick_gelu", false}, {"quick_gelu", true}} {
		t.Run(fmt.Sprintf("%s,projection=%v", tc.act, tc.proj), func(t *testing.T) {
			cfg := smallTextConfig(tc.act, tc.proj)
			e, err := NewTextEncoder(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			e.Model.Params().Randomize(rand.New(rand.NewSource(3)), 0.5)
			got, err := e.Encode(ids)
			if err != nil {
				t.Fatal(err)
			}
			w := refParamsOf(e.Model)
			var worst float64
			for b, row := range ids {
				hidden, last, pooled, proj := refForward(cfg, w, row)
				for k := range hidden {
					worst = math.Max(worst, maxDiff(got.HiddenStates[k], b, hidden[k]))
				}
				worst = math.Max(worst, maxDiff(got.LastHiddenState, b, last))
				worst = math.Max(worst, maxDiff(got.Pooled, b, [][]float64{pooled}))
				if tc.proj {
					worst = math.Max(worst, maxDiff(got.TextEmbeds, b, [][]float64{proj}))
				} else if got.TextEmbeds != nil {
					t.Error("CLIPTextModel returned text_embeds")
				}
			}
			if worst > 2e-5 {
				t.Errorf("max |graph - reference| = %g", worst)
			}
			if want := []int{3, 1, 5}; got.PooledPositions[0] != want[0] || got.PooledPositions[1] != want[1] || got.PooledPositions[2] != want[2] {
				t.Errorf("pooled positions %v, want %v", got.PooledPositions, want)
			}
		})
	}
}

// maxDiff is max |x[b] - want| over row b of x [B, …].
func maxDiff(x *tensor.Dense, b int, want [][]float64) float64 {
	data := x.Data().([]float32)
	n := len(want) * len(want[0])
	row := data[b*n : (b+1)*n]
	var m float64
	for i, r := range want {
		for j, v := range r {
			m = math.Max(m, math.Abs(float64(row[i*len(r)+j])-v))
		}
	}
	return m
}
