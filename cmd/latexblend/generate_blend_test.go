package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

// writeGoldenEntry turns a golden latexblend_bank case into an entry file.
func writeGoldenEntry(t *testing.T, bankCase, noun, path string) {
	t.Helper()
	f, err := safetensors.Open(golden.Path(t, "cases", bankCase+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := &blend.Entry{ClassNoun: noun, ModifierToken: "<new1>", Recipe: "golden " + bankCase, Layers: map[string]blend.LayerKV{}}
	for _, n := range f.Names() {
		if strings.HasPrefix(n, "delta.") {
			continue
		}
		v, s, err := f.Float32(n)
		if err != nil {
			t.Fatal(err)
		}
		mod := strings.TrimSuffix(n[:strings.LastIndexByte(n, '.')], ".processor")
		l := e.Layers[mod]
		l.Channels, e.NTok = s[1], s[0]
		if strings.HasSuffix(n, ".k") {
			l.K = v
		} else {
			l.V = v
		}
		e.Layers[mod] = l
	}
	if err := blend.WriteEntry(path, e); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateBlendCommand runs `generate --concept … --reference-compat` on tiny-sdxl
// with golden latexblend_infer_plain's initial latents and compares --out-latents with
// its final latents (5e-4 of the largest magnitude); the PNG metadata names the mode.
// The same run through --config (the reference's inference_dict format) gives the same
// latents.
func TestGenerateBlendCommand(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	ref, err := safetensors.Open(golden.Path(t, "cases", "latexblend_infer_plain.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	dir := t.TempDir()
	dog, sg := filepath.Join(dir, "dog.safetensors"), filepath.Join(dir, "sunglasses.safetensors")
	writeGoldenEntry(t, "latexblend_bank1", "dog", dog)
	writeGoldenEntry(t, "latexblend_bank2", "sunglasses", sg)
	init, shape, err := ref.Float32("initial_latents")
	if err != nil {
		t.Fatal(err)
	}
	initPath := filepath.Join(dir, "init.safetensors")
	if err := safetensors.WriteFile(initPath, []safetensors.Tensor{{Name: "latents", Shape: shape, F32: init}}, nil); err != nil {
		t.Fatal(err)
	}
	want, _, err := ref.Float32("final_latents")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "inference.json")
	cfg := `[{"prompt": "a dog wearing a sunglasses", "batch_size": 1, "num_inference_steps": 10, "blending_start": 0.9,
	  "concept_num": 2, "get_concept_bank": false, "blending_guidance": false, "self_rectification": false,
	  "concept1": {"concept_bank": "dog.safetensors", "class_noun": "dog"},
	  "concept2": {"concept_bank": "sunglasses.safetensors", "class_noun": "sunglasses"}}]`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"flags", []string{"--prompt", "a dog wearing a sunglasses", "--steps", "10", "--cfg", "6", "--concept", "dog=" + dog, "--concept", "sunglasses=" + sg}},
		{"config", []string{"--config", cfgPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "img.png")
			lat := filepath.Join(t.TempDir(), "lat.safetensors")
			args := append([]string{"generate", "--model", model, "--init-latents", initPath, "--out-latents", lat, "--out", out, "--quiet", "--reference-compat"}, tc.args...)
			stdout, err := runCmd(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			f, err := safetensors.Open(lat)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _, err := f.Float32("latents")
			if err != nil {
				t.Fatal(err)
			}
			var d, m float64
			for i := range want {
				d = math.Max(d, math.Abs(float64(got[i]-want[i])))
				m = math.Max(m, math.Abs(float64(want[i])))
			}
			if d/m > 5e-4 {
				t.Errorf("final latents: rel err %.3g > 5e-4", d/m)
			}
			all := pngText(t, out)
			for _, s := range []string{`"objective":"reference-compat"`, `"concept1":"dog"`, `"blend_mode":"replace"`} {
				if !strings.Contains(all, s) {
					t.Errorf("image metadata lacks %s: %s", s, all)
				}
			}
		})
	}
	if _, err := runCmd(t, "generate", "--model", model, "--prompt", "a cat", "--steps", "1", "--out", filepath.Join(dir, "x.png"), "--quiet", "--concept", "dog="+dog); err == nil || !strings.Contains(err.Error(), `"dog" is not in the prompt`) {
		t.Errorf("absent noun: err %v", err)
	}
	if _, err := runCmd(t, "generate", "--model", model, "--prompt", "a cat", "--steps", "1", "--out", filepath.Join(dir, "x.png"), "--quiet", "--blending-guidance"); err == nil || !strings.Contains(err.Error(), "needs concepts") {
		t.Errorf("guidance without concepts: err %v", err)
	}
	// An entry extracted on another base model is refused.
	other, err := blend.ReadEntry(dog)
	if err != nil {
		t.Fatal(err)
	}
	other.BaseModel = "0123456789abcdef0123"
	otherPath := filepath.Join(dir, "other.safetensors")
	if err := blend.WriteEntry(otherPath, other); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, "generate", "--model", model, "--prompt", "a dog", "--steps", "1", "--out", filepath.Join(dir, "x.png"), "--quiet", "--concept", "dog="+otherPath); err == nil || !strings.Contains(err.Error(), "extracted on base model 0123456789ab") {
		t.Errorf("entry of another base model: err %v", err)
	}
}
