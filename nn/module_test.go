package nn

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func TestModuleParameterNames(t *testing.T) {
	ps := NewParams(tensor.Float32)
	prefix := "down_blocks.1.attentions.0.transformer_blocks.0"
	NewAttention(ps, Join(prefix, "attn2"), AttentionConfig{QueryDim: 640, ContextDim: 2048, Heads: 10, HeadDim: 64, OutBias: true})
	NewLayerNorm(ps, Join(prefix, "norm2"), 640, 1e-5)
	NewGroupNorm(ps, "down_blocks.1.attentions.0.norm", 32, 640, 1e-6)
	NewConv2d(ps, "conv_in", 4, 320, 3, Conv2dOptions{Pad: 1}, true)
	NewEmbedding(ps, "text_model.embeddings.token_embedding", 49408, 768)
	NewAttention(ps, "text_model.encoder.layers.0.self_attn", AttentionConfig{QueryDim: 768, Heads: 12, HeadDim: 64, QKVBias: true, OutBias: true, Names: CLIPAttentionNames})
	if err := ps.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string][]int{
		prefix + ".attn2.to_q.weight":                           {640, 640},
		prefix + ".attn2.to_k.weight":                           {640, 2048},
		prefix + ".attn2.to_v.weight":                           {640, 2048},
		prefix + ".attn2.to_out.0.weight":                       {640, 640},
		prefix + ".attn2.to_out.0.bias":                         {640},
		prefix + ".norm2.weight":                                {640},
		prefix + ".norm2.bias":                                  {640},
		"down_blocks.1.attentions.0.norm.weight":                {640},
		"down_blocks.1.attentions.0.norm.bias":                  {640},
		"conv_in.weight":                                        {320, 4, 3, 3},
		"conv_in.bias":                                          {320},
		"text_model.embeddings.token_embedding.weight":          {49408, 768},
		"text_model.encoder.layers.0.self_attn.q_proj.weight":   {768, 768},
		"text_model.encoder.layers.0.self_attn.q_proj.bias":     {768},
		"text_model.encoder.layers.0.self_attn.k_proj.weight":   {768, 768},
		"text_model.encoder.layers.0.self_attn.k_proj.bias":     {768},
		"text_model.encoder.layers.0.self_attn.v_proj.weight":   {768, 768},
		"text_model.encoder.layers.0.self_attn.v_proj.bias":     {768},
		"text_model.encoder.layers.0.self_attn.out_proj.weight": {768, 768},
		"text_model.encoder.layers.0.self_attn.out_proj.bias":   {768},
	}
	got := map[string][]int{}
	for _, name := range ps.Names() {
		got[name] = []int(ps.Get(name).Shape())
	}
	if !reflect.DeepEqual(got, want) {
		for name, s := range got {
			if !reflect.DeepEqual(want[name], s) {
				t.Errorf("got parameter %s %v, want %v", name, s, want[name])
			}
		}
		for name := range want {
			if _, ok := got[name]; !ok {
				t.Errorf("missing parameter %s", name)
			}
		}
	}
}

func TestParamsRegistrationErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		build func(ps *Params)
		want  string
	}{
		{"duplicate", func(ps *Params) { NewLinear(ps, "a", 2, 2, true); NewLinear(ps, "a", 2, 2, true) }, `"a.weight" registered twice`},
		{"zero dim", func(ps *Params) { NewLinear(ps, "a", 0, 2, false) }, "non-positive dimension"},
		{"bad name", func(ps *Params) { ps.New("a.", 1) }, "not a dotted path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps := NewParams(tensor.Float32)
			tc.build(ps)
			if err := ps.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Err() = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestParamsLoad(t *testing.T) {
	newStore := func() *Params {
		ps := NewParams(tensor.Float32)
		NewLinear(ps, "proj", 3, 2, true)
		NewLayerNorm(ps, "norm", 2, 1e-5)
		return ps
	}
	full := map[string]Tensor{
		"proj.weight": {Shape: []int{2, 3}, Data: []float32{1, 2, 3, 4, 5, 6}},
		"proj.bias":   {Shape: []int{2}, Data: []float32{7, 8}},
		"norm.weight": {Shape: []int{2}, Data: []float32{1, 1}},
		"norm.bias":   {Shape: []int{2}, Data: []float32{0, 0}},
	}
	t.Run("ok", func(t *testing.T) {
		ps := newStore()
		if err := ps.Load(full, LoadOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := ps.Get("proj.weight").Value.Data().([]float32); !reflect.DeepEqual(got, []float32{1, 2, 3, 4, 5, 6}) {
			t.Fatalf("proj.weight = %v", got)
		}
	})
	t.Run("float64 store", func(t *testing.T) {
		ps := NewParams(tensor.Float64)
		NewLinear(ps, "proj", 3, 2, true)
		if err := ps.Load(full, LoadOptions{AllowUnexpected: true}); err != nil {
			t.Fatal(err)
		}
		if got := ps.Get("proj.bias").Value.Data().([]float64); !reflect.DeepEqual(got, []float64{7, 8}) {
			t.Fatalf("proj.bias = %v", got)
		}
	})
	t.Run("all mismatches listed", func(t *testing.T) {
		ps := newStore()
		bad := map[string]Tensor{
			"proj.weight": {Shape: []int{3, 2}, Data: make([]float32, 6)},
			"proj.bias":   {Shape: []int{2}, Data: make([]float32, 3)},
			"norm.weight": full["norm.weight"],
			"extra.bias":  {Shape: []int{1}, Data: []float32{0}},
		}
		err := ps.Load(bad, LoadOptions{})
		le, ok := IsLoadError(err)
		if !ok {
			t.Fatalf("Load = %v, want a *LoadError", err)
		}
		if !reflect.DeepEqual(le.Missing, []string{"norm.bias"}) || !reflect.DeepEqual(le.Unexpected, []string{"extra.bias"}) || len(le.Misshaped) != 2 {
			t.Fatalf("LoadError = %+v", le)
		}
		for _, s := range []string{"proj.weight: checkpoint [3 2], model [2 3]", "proj.bias: 3 values", "missing: norm.bias", "unexpected: extra.bias"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not mention %q", err, s)
			}
		}
		if w := ps.Get("norm.weight").Value.Data().([]float32); w[0] != 0 {
			t.Errorf("a failed Load copied values")
		}
	})
	t.Run("allow missing", func(t *testing.T) {
		ps := newStore()
		part := map[string]Tensor{"proj.bias": full["proj.bias"]}
		if err := ps.Load(part, LoadOptions{AllowMissing: true}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSetTrainable(t *testing.T) {
	ps := NewParams(tensor.Float32)
	NewAttention(ps, "mid.attn2", AttentionConfig{QueryDim: 8, ContextDim: 6, Heads: 2, HeadDim: 4, OutBias: true})
	ps.Randomize(rand.New(rand.NewSource(1)), 1)
	n := ps.SetTrainable(func(name string) bool {
		return strings.HasSuffix(name, "attn2.to_k.weight") || strings.HasSuffix(name, "attn2.to_v.weight")
	})
	if n != 2 {
		t.Fatalf("SetTrainable = %d, want 2", n)
	}
	var names []string
	for _, p := range ps.Trainable() {
		names = append(names, p.Name)
		if p.Grad == nil || !p.Grad.Shape().Eq(p.Value.Shape()) {
			t.Errorf("%s: gradient buffer %v", p.Name, p.Grad)
		}
	}
	if !reflect.DeepEqual(names, []string{"mid.attn2.to_k.weight", "mid.attn2.to_v.weight"}) {
		t.Fatalf("trainable = %v", names)
	}
	if ps.Get("mid.attn2.to_q.weight").Grad != nil {
		t.Fatal("a frozen parameter has a gradient buffer")
	}
}
