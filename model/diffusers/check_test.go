package diffusers

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
)

// specSource is an in-memory TensorSource built from parameter specs (shape-only).
type specSource map[string]safetensors.TensorInfo

func newSpecSource(specs []ParamSpec) specSource {
	s := specSource{}
	for _, p := range specs {
		s[p.Name] = safetensors.TensorInfo{Name: p.Name, DType: safetensors.F16, Shape: p.Shape}
	}
	return s
}

func (s specSource) Names() []string { return sortedKeys(s) }
func (s specSource) Info(name string) (safetensors.TensorInfo, bool) {
	t, ok := s[name]
	return t, ok
}

func TestCheckReportsEverythingAtOnce(t *testing.T) {
	src := specSource{
		"a.weight": {Name: "a.weight", DType: safetensors.F32, Shape: []int{4, 3}},
		"b.weight": {Name: "b.weight", DType: safetensors.BF16, Shape: []int{2}},
		"c.bias":   {Name: "c.bias", DType: safetensors.F32, Shape: []int{5}},
		"ids":      {Name: "ids", DType: safetensors.I64, Shape: []int{1, 77}},
		"extra.1":  {Name: "extra.1", DType: safetensors.F32, Shape: []int{1}},
		"extra.2":  {Name: "extra.2", DType: safetensors.F32, Shape: []int{1}},
		"buffer":   {Name: "buffer", DType: safetensors.I64, Shape: []int{1}},
	}
	want := []ParamSpec{
		{"a.weight", []int{3, 4}}, // transposed
		{"b.weight", []int{2}},    // fine
		{"c.bias", []int{5}},      // fine
		{"ids", []int{1, 77}},     // right shape, integer dtype
		{"d.weight", []int{7, 7}}, // missing
		{"e.bias", []int{7}},      // missing
		{"c.bias", []int{5}},      // listed twice by the model
	}
	err := Check(src, want, CheckOptions{AllowUnexpected: func(n string) bool { return n == "buffer" }})
	var me *MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Check = %v, want a *MismatchError", err)
	}
	if len(me.Missing) != 2 || me.Missing[0].Name != "d.weight" || me.Missing[1].Name != "e.bias" {
		t.Errorf("missing = %+v", me.Missing)
	}
	if len(me.Unexpected) != 2 || me.Unexpected[0].Name != "extra.1" || me.Unexpected[1].Name != "extra.2" {
		t.Errorf("unexpected = %+v", me.Unexpected)
	}
	if len(me.Misshaped) != 1 || me.Misshaped[0].Name != "a.weight" {
		t.Errorf("misshaped = %+v", me.Misshaped)
	}
	if len(me.NotFloat) != 1 || me.NotFloat[0].Name != "ids" {
		t.Errorf("not float = %+v", me.NotFloat)
	}
	if len(me.Duplicate) != 1 || me.Duplicate[0] != "c.bias" || me.Count() != 7 {
		t.Errorf("duplicate = %v, count %d", me.Duplicate, me.Count())
	}
	msg := err.Error()
	for _, s := range []string{"2 missing, 2 unexpected, 1 mis-shaped, 1 not float", "missing d.weight [7 7]", "missing e.bias",
		"unexpected extra.1", "unexpected extra.2", "mis-shaped a.weight: file [4 3], model [3 4]", "not float ids: dtype I64"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error does not contain %q:\n%s", s, msg)
		}
	}
	if strings.Contains(msg, "buffer") {
		t.Errorf("allowed tensor reported:\n%s", msg)
	}
	if err := Check(src, []ParamSpec{{"a.weight", []int{4, 3}}, {"b.weight", []int{2}}, {"c.bias", []int{5}}, {"ids", nil}}, CheckOptions{}); err == nil {
		t.Error("Check passed with extras present")
	}
}

// TestLoadFillsOnlyWhenAllMatch writes a file with mixed dtypes, loads it into
// targets, and checks a mismatch leaves the targets untouched.
func TestLoadFillsOnlyWhenAllMatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.safetensors")
	err := safetensors.WriteFile(path, []safetensors.Tensor{
		{Name: "w", Shape: []int{2, 2}, DType: safetensors.F16, F32: []float32{1, 2, 3, 4}},
		{Name: "b", Shape: []int{2}, DType: safetensors.BF16, F32: []float32{0.5, -8}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, b := make([]float32, 4), make([]float32, 2)
	if err := Load(f, []Target{{ParamSpec{"w", []int{2, 2}}, w}, {ParamSpec{"b", []int{2}}, b}}, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if w[3] != 4 || b[1] != -8 {
		t.Errorf("loaded w=%v b=%v", w, b)
	}
	fresh := make([]float32, 4)
	err = Load(f, []Target{{ParamSpec{"w", []int{2, 2}}, fresh}, {ParamSpec{"b", []int{3}}, make([]float32, 3)}}, CheckOptions{})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "mis-shaped b") {
		t.Fatalf("Load with a wrong shape: %v", err)
	}
	if fresh[0] != 0 {
		t.Error("Load wrote into targets although the check failed")
	}
	if err := Load(f, []Target{{ParamSpec{"w", []int{2, 2}}, make([]float32, 3)}}, CheckOptions{}); err == nil {
		t.Error("Load accepted storage of the wrong size")
	}
}

// TestTinyUNetMatchesKeyList checks the reference tiny UNet's weights against the key
// list enumerated from the architecture (../shared/spec/unet-keys-tiny32x64.tsv).
func TestTinyUNetMatchesKeyList(t *testing.T) {
	specs, err := ReadKeysTSV(specPath(t, "unet-keys-tiny32x64.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Open(tinySDXL(t))
	if err != nil {
		t.Fatal(err)
	}
	w, err := m.OpenWeights("unet", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := Check(w, specs, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if len(specs) != 428 || len(w.Names()) != 428 {
		t.Errorf("%d specs, %d tensors, want 428", len(specs), len(w.Names()))
	}
	// Load every parameter, as a model would.
	targets := make([]Target, len(specs))
	total := 0
	for i, s := range specs {
		targets[i] = Target{ParamSpec: s, Data: make([]float32, s.NumElements())}
		total += int(s.NumElements())
	}
	if err := Load(w, targets, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	if total != 1976516 {
		t.Errorf("tiny UNet has %d parameters, want 1976516", total)
	}
}

// TestSDXLKeyList is the shape-only check of the full SDXL UNet: the key list parses
// with the documented totals, a source holding exactly those tensors passes, and one
// with a dropped, a renamed and a transposed tensor fails listing all three.
func TestSDXLKeyList(t *testing.T) {
	specs, err := ReadKeysTSV(specPath(t, "unet-keys-sdxl.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var params int64
	attn2KV := 0
	for _, s := range specs {
		params += s.NumElements()
		if strings.Contains(s.Name, ".attn2.to_k.weight") || strings.Contains(s.Name, ".attn2.to_v.weight") {
			attn2KV++
		}
	}
	if len(specs) != 1680 || params != 2567463684 {
		t.Fatalf("%d tensors, %d parameters; want 1680, 2567463684", len(specs), params)
	}
	if attn2KV != 140 {
		t.Errorf("%d attn2 to_k/to_v weights, want 140", attn2KV)
	}
	src := newSpecSource(specs)
	if err := Check(src, specs, CheckOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(src, "conv_in.weight")
	k := "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"
	src[k] = safetensors.TensorInfo{Name: k, DType: safetensors.F16, Shape: []int{2048, 640}}
	old := "mid_block.resnets.0.norm1.bias"
	src["mid_block.resnets.0.norm_1.bias"] = src[old]
	delete(src, old)
	var me *MismatchError
	if err := Check(src, specs, CheckOptions{}); !errors.As(err, &me) || len(me.Missing) != 2 || len(me.Unexpected) != 1 || len(me.Misshaped) != 1 {
		t.Fatalf("Check = %v", err)
	}
}

func TestReadKeysTSVErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"no tab", "conv_in.weight [320]\n", ":1:"},
		{"bad shape", "# c\nconv_in.weight\t[320, x]\n", ":2: conv_in.weight"},
		{"not a list", "a\t320\n", "not a [d0"},
		{"duplicate", "a\t[1]\n\na\t[1]\n", "already listed on line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "k.tsv")
			writeText(t, p, tc.text)
			if _, err := ReadKeysTSV(p); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadKeysTSV = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	p := filepath.Join(dir, "ok.tsv")
	writeText(t, p, "# header\nscalar\t[]\nw\t[2, 3]\n")
	specs, err := ReadKeysTSV(p)
	if err != nil || len(specs) != 2 || len(specs[0].Shape) != 0 || specs[1].NumElements() != 6 {
		t.Errorf("ReadKeysTSV = %+v, %v", specs, err)
	}
}
