package vae

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gorgonia.org/tensor"

	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
)

// checkpoint returns a model's parameters as safetensors tensors under their names,
// passed through rename (which may return "" to drop a tensor or change its shape).
func checkpoint(m *Model, rename func(name string, shape []int) (string, []int)) []safetensors.Tensor {
	var out []safetensors.Tensor
	for _, name := range m.Params.Names() {
		p := m.Params.Get(name)
		n, shape := rename(name, []int(p.Shape()))
		if n == "" {
			continue
		}
		data := p.Value.Data().([]float32)
		if size := numElements(shape); size != len(data) {
			data = make([]float32, size)
		}
		out = append(out, safetensors.Tensor{Name: n, Shape: shape, F32: data})
	}
	return out
}

func numElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

func writeCheckpoint(t *testing.T, tensors []safetensors.Tensor) *safetensors.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "diffusion_pytorch_model.safetensors")
	if err := safetensors.WriteFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func sameParams(t *testing.T, got, want *Model) {
	t.Helper()
	for _, name := range want.Params.Names() {
		g, w := got.Params.Get(name).Value.Data().([]float32), want.Params.Get(name).Value.Data().([]float32)
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("%s[%d] = %v, want %v", name, i, g[i], w[i])
			}
		}
	}
}

// TestLoadLegacyAttentionNames loads a checkpoint in the pre-0.14 AttentionBlock naming
// (query, key, value, proj_attn), with one projection stored as a 1×1 convolution.
func TestLoadLegacyAttentionNames(t *testing.T) {
	src := randomModel(t, tinyConfig(), tensor.Float32, 4, 0.1)
	legacy := map[string]string{"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
	renamed := 0
	f := writeCheckpoint(t, checkpoint(src, func(name string, shape []int) (string, []int) {
		for cur, old := range legacy {
			prefix, ok := strings.CutSuffix(name, "."+cur+".weight")
			if ok {
				renamed++
				if cur == "to_q" && strings.HasPrefix(name, "decoder.") {
					return prefix + "." + old + ".weight", append(shape, 1, 1)
				}
				return prefix + "." + old + ".weight", shape
			}
			if prefix, ok := strings.CutSuffix(name, "."+cur+".bias"); ok {
				renamed++
				return prefix + "." + old + ".bias", shape
			}
		}
		return name, shape
	}))
	if renamed != 16 {
		t.Fatalf("renamed %d tensors, want 16 (2 attentions × 4 projections × weight, bias)", renamed)
	}
	m, err := New(tinyConfig(), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
	sameParams(t, m, src)
}

// TestLoadReportsEveryMismatch: one error lists the missing, unexpected and mis-shaped
// tensors, and nothing is loaded.
func TestLoadReportsEveryMismatch(t *testing.T) {
	src := randomModel(t, tinyConfig(), tensor.Float32, 5, 0.1)
	tensors := checkpoint(src, func(name string, shape []int) (string, []int) {
		switch name {
		case "encoder.conv_in.bias":
			return "", nil
		case "decoder.conv_out.bias":
			return name, []int{4}
		}
		return name, shape
	})
	tensors = append(tensors,
		safetensors.Tensor{Name: "encoder.extra.weight", Shape: []int{2}, F32: []float32{1, 2}},
		// The current name is present, so the legacy duplicate is not renamed onto it.
		safetensors.Tensor{Name: "encoder.mid_block.attentions.0.query.bias", Shape: []int{64}, F32: make([]float32, 64)})
	f := writeCheckpoint(t, tensors)
	m, err := New(tinyConfig(), tensor.Float32)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	err = m.LoadWeights(f)
	var me *diffusers.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("error %v, want a *diffusers.MismatchError", err)
	}
	if len(me.Missing) != 1 || len(me.Unexpected) != 2 || len(me.Misshaped) != 1 {
		t.Errorf("missing %v, unexpected %v, mis-shaped %v; want 1, 2, 1", me.Missing, me.Unexpected, me.Misshaped)
	}
	for _, want := range []string{
		f.Path(),
		"missing encoder.conv_in.bias [32]",
		"unexpected encoder.extra.weight",
		"unexpected encoder.mid_block.attentions.0.query.bias",
		"mis-shaped decoder.conv_out.bias: file [4], model [3]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	for _, v := range m.Params.Get("encoder.conv_out.weight").Value.Data().([]float32) {
		if v != 0 {
			t.Fatal("a failed load changed encoder.conv_out.weight")
		}
	}
}

// TestLoadFolderAndFloat64 loads a component folder written here (config.json and
// weights) and the same weights into a float64 model.
func TestLoadFolderAndFloat64(t *testing.T) {
	src := randomModel(t, tinyConfig(), tensor.Float32, 6, 0.1)
	dir := t.TempDir()
	cfg := `{"_class_name": "AutoencoderKL", "block_out_channels": [32, 64],
		"down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D"],
		"up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D"], "scaling_factor": 0.13025}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "diffusion_pytorch_model.safetensors")
	if err := safetensors.WriteFile(path, checkpoint(src, func(n string, s []int) (string, []int) { return n, s }), nil); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sameParams(t, m, src)
	if m.ScalingFactor() != 0.13025 {
		t.Errorf("scaling factor %v, want the config's 0.13025", m.ScalingFactor())
	}

	f, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m64, err := New(tinyConfig(), tensor.Float64)
	if err != nil {
		t.Fatal(err)
	}
	defer m64.Close()
	if err := m64.LoadWeights(f); err != nil {
		t.Fatal(err)
	}
	name := "decoder.up_blocks.1.resnets.0.conv_shortcut.weight"
	if got, want := m64.Params.Get(name).Value.Data().([]float64)[5], src.Params.Get(name).Value.Data().([]float32)[5]; got != float64(want) {
		t.Errorf("float64 %s[5] = %v, want %v", name, got, want)
	}

	if _, err := Load(filepath.Join(dir, "absent"), ""); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("loading a missing folder: error %v, want one naming it", err)
	}
	if _, err := Load(dir, "fp16"); err == nil || !strings.Contains(err.Error(), "fp16") {
		t.Errorf("loading a missing variant: error %v, want one naming it", err)
	}
}
