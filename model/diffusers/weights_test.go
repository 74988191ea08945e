package diffusers

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/safetensors"
)

// TestTinySDXLWeights opens the weights of every model component of the reference
// folder and reads a few tensors with the right shapes.
func TestTinySDXLWeights(t *testing.T) {
	m, err := Open(tinySDXL(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		component string
		file      string
		tensors   int
		probe     string
		shape     []int
	}{
		{"unet", "diffusion_pytorch_model.safetensors", 428, "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight", []int{64, 64}},
		{"vae", "diffusion_pytorch_model.safetensors", 124, "decoder.conv_out.weight", []int{3, 32, 3, 3}},
		{"text_encoder", "model.safetensors", 85, "text_model.embeddings.token_embedding.weight", []int{49408, 32}},
		{"text_encoder_2", "model.safetensors", 86, "text_projection.weight", []int{32, 32}},
	} {
		w, err := m.OpenWeights(tc.component, "")
		if err != nil {
			t.Fatal(err)
		}
		if files := w.Files(); len(files) != 1 || filepath.Base(files[0]) != tc.file {
			t.Errorf("%s files %v, want %s", tc.component, files, tc.file)
		}
		if n := len(w.Names()); n != tc.tensors {
			t.Errorf("%s has %d tensors, want %d", tc.component, n, tc.tensors)
		}
		data, shape, err := w.Float32(tc.probe)
		if err != nil {
			t.Fatal(err)
		}
		if len(shape) != len(tc.shape) || int64(len(data)) != (ParamSpec{Shape: tc.shape}).NumElements() {
			t.Errorf("%s %s: shape %v, %d values; want %v", tc.component, tc.probe, shape, len(data), tc.shape)
		}
		nonzero := 0
		for _, v := range data {
			if v != 0 {
				nonzero++
			}
		}
		if nonzero < len(data)/2 {
			t.Errorf("%s %s: only %d of %d values non-zero", tc.component, tc.probe, nonzero, len(data))
		}
		w.Close()
	}
	// text encoders: position_ids is a buffer, readable as int64 0..76.
	w, err := m.OpenWeights("text_encoder", "")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ids, _, err := w.Int64(CLIPTextBuffers[0])
	if err != nil || len(ids) != 77 || ids[76] != 76 {
		t.Errorf("position_ids = %v, %v", ids, err)
	}
	if _, err := m.OpenWeights("tokenizer", ""); !errors.Is(err, ErrNoWeights) {
		t.Errorf("tokenizer weights: %v, want ErrNoWeights", err)
	}
}

func TestWeightVariantsAndShards(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, tensors ...safetensors.Tensor) {
		t.Helper()
		if err := safetensors.WriteFile(filepath.Join(dir, name), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	a := safetensors.Tensor{Name: "a", Shape: []int{2}, F32: []float32{1, 2}}
	b := safetensors.Tensor{Name: "b", Shape: []int{1}, DType: safetensors.F16, F32: []float32{3}}

	// Only an fp16 variant: the default lookup fails, naming what is there.
	write("diffusion_pytorch_model.fp16.safetensors", a, b)
	_, err := WeightFiles(dir, "")
	if !errors.Is(err, ErrNoWeights) || !strings.Contains(err.Error(), "diffusion_pytorch_model.fp16.safetensors") {
		t.Errorf("default lookup with only fp16: %v", err)
	}
	files, err := WeightFiles(dir, "fp16")
	if err != nil || len(files) != 1 || filepath.Base(files[0]) != "diffusion_pytorch_model.fp16.safetensors" {
		t.Errorf("fp16 lookup = %v, %v", files, err)
	}
	if _, err := WeightFiles(dir, "../x"); err == nil {
		t.Error("a variant with a path separator was accepted")
	}

	// Sharded transformers-style checkpoint.
	write("model-00001-of-00002.safetensors", a)
	write("model-00002-of-00002.safetensors", b)
	index := func(m map[string]string) {
		t.Helper()
		data, _ := json.Marshal(map[string]any{"metadata": map[string]any{"total_size": 10}, "weight_map": m})
		writeText(t, filepath.Join(dir, "model.safetensors.index.json"), string(data))
	}
	index(map[string]string{"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})
	w, err := OpenWeights(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if names := w.Names(); len(names) != 2 || names[0] != "a" || names[1] != "b" {
		t.Errorf("sharded names %v", names)
	}
	if v, _, err := w.Float32("b"); err != nil || v[0] != 3 {
		t.Errorf("b = %v, %v", v, err)
	}
	if err := Check(w, []ParamSpec{{"a", []int{2}}, {"b", []int{1}}}, CheckOptions{}); err != nil {
		t.Error(err)
	}
	if _, _, err := w.Float32("c"); !errors.Is(err, safetensors.ErrNotFound) {
		t.Errorf("missing tensor: %v", err)
	}
	w.Close()

	index(map[string]string{"a": "model-00002-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})
	if _, err := OpenWeights(dir, ""); err == nil || !strings.Contains(err.Error(), `tensor "a" listed in the index is in no shard`) {
		t.Errorf("index pointing at the wrong shard: %v", err)
	}
	index(map[string]string{"a": "../model-00001-of-00002.safetensors"})
	if _, err := OpenWeights(dir, ""); err == nil || !strings.Contains(err.Error(), "not a file name") {
		t.Errorf("index escaping the folder: %v", err)
	}
	// The same tensor in two shards.
	write("model-00002-of-00002.safetensors", a, b)
	index(map[string]string{"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"})
	if _, err := OpenWeights(dir, ""); err == nil || !strings.Contains(err.Error(), `"a" is in both`) {
		t.Errorf("duplicate across shards: %v", err)
	}
	// A corrupt weights file is reported with its path.
	os.Remove(filepath.Join(dir, "model.safetensors.index.json"))
	writeText(t, filepath.Join(dir, "model.safetensors"), "garbage!")
	if _, err := OpenWeights(dir, ""); err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("corrupt file: %v", err)
	}
}
