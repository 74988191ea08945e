package main

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/model/safetensors"
)

func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// goldenRow0 reads row 0 of a golden [B, …] tensor.
func goldenRow0(t *testing.T, f *safetensors.File, name string) ([]float32, []int) {
	t.Helper()
	v, shape, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	n := len(v) / shape[0]
	return v[:n], append([]int{1}, shape[1:]...)
}

// TestEncodePromptCommand writes embeddings for one prompt of golden cases/text and one
// of cases/train_customdiffusion (with <new1> added) and compares the file with the
// reference rows (golden/README.md: 1e-4 of the largest magnitude).
func TestEncodePromptCommand(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	for _, tc := range []struct {
		name, prompt, ref string
		extra             []string
	}{
		{"text", "a photo of a dog", "text.safetensors", nil},
		{"new token", "photo of <new1> dog", "train_customdiffusion.safetensors", []string{"--add-token", "<new1>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "embeds.safetensors")
			args := append([]string{"encode-prompt", "--model", model, "--prompt", tc.prompt, "--out", out}, tc.extra...)
			stdout, err := runCmd(t, args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if !strings.Contains(stdout, "prompt_embeds=[1 77 64] pooled_prompt_embeds=[1 32]") {
				t.Errorf("summary line %q", stdout)
			}
			got, err := safetensors.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if names := got.Names(); !slices.Equal(names, []string{"pooled_prompt_embeds", "prompt_embeds"}) {
				t.Errorf("tensors %v", names)
			}
			ref, err := safetensors.Open(golden.Path(t, "cases", tc.ref))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			for _, name := range []string{"prompt_embeds", "pooled_prompt_embeds"} {
				want, wantShape := goldenRow0(t, ref, name)
				v, shape, err := got.Float32(name)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(shape, wantShape) {
					t.Fatalf("%s: shape %v, want %v", name, shape, wantShape)
				}
				var diff, mag float64
				for i := range want {
					diff = math.Max(diff, math.Abs(float64(v[i]-want[i])))
					mag = math.Max(mag, math.Abs(float64(want[i])))
				}
				if diff > 1e-4*mag {
					t.Errorf("%s: max|go-ref| %g > 1e-4·%g", name, diff, mag)
				}
			}
		})
	}
}

func TestEncodePromptCommandErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.safetensors")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--prompt", "a", "--out", out}, "--model"},
		{"no out", []string{"--model", "m", "--prompt", "a"}, "--out"},
		{"no prompt", []string{"--model", "m", "--out", out}, "--prompt"},
		{"not a model folder", []string{"--model", t.TempDir(), "--prompt", "a", "--out", out}, "model_index.json"},
	} {
		_, err := runCmd(t, append([]string{"encode-prompt"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
}
