package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/trainer"
)

func writePNGs(t *testing.T, dir string, n, w, h int) {
	t.Helper()
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				img.Set(x, y, color.RGBA{uint8(40*i + x), uint8(y * 3), uint8(x + y), 255})
			}
		}
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		png.Encode(f, img)
		f.Close()
	}
}

// TestTrainExtractCommands trains 2 steps on the tiny model with a checkpoint, resumes
// for one more step, and extracts the entry from the delta.
func TestTrainExtractCommands(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	dir := t.TempDir()
	inst, reg := filepath.Join(dir, "inst"), filepath.Join(dir, "reg")
	os.Mkdir(inst, 0o755)
	os.Mkdir(reg, 0o755)
	writePNGs(t, inst, 2, 72, 64)
	writePNGs(t, reg, 1, 64, 64)
	delta := filepath.Join(dir, "dog.safetensors")
	common := []string{"train", "--model", model, "--images", inst, "--reg", reg, "--class", "dog", "--resolution", "32", "--out", delta}
	out, err := runCmd(t, append(common, "--steps", "2", "--checkpoint-every", "1")...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "steps=2 loss=") || !strings.Contains(out, "2/2 loss") {
		t.Errorf("train output %q", out)
	}
	ckpt := filepath.Join(dir, "dog.checkpoint.safetensors")
	out, err = runCmd(t, append(common, "--steps", "3", "--resume", ckpt)...)
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	d, err := trainer.ReadDelta(delta)
	if err != nil || d.Step != 3 || d.ClassNoun != "dog" {
		t.Fatalf("delta after resume: %+v %v", d, err)
	}
	entry := filepath.Join(dir, "dog.entry.safetensors")
	out, err = runCmd(t, "extract", "--model", model, "--delta", delta, "--out", entry)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, `layers=12 n_tok=2 class="dog" token=<new1>`) {
		t.Errorf("extract output %q", out)
	}
	b, _ := os.ReadFile(entry)
	if _, err := trainer.ParseEntry(b); err != nil {
		t.Error(err)
	}
	// --places adds per-place rows; generate reports the place it used (concept1_place),
	// or "places":"off" with --no-places.
	placed := filepath.Join(dir, "dog.places.safetensors")
	out, err = runCmd(t, "extract", "--model", model, "--delta", delta, "--places", "2", "--fillers", "cat", "--out", placed)
	if err != nil || !strings.Contains(out, "places=2") {
		t.Fatalf("extract --places: %v\n%s", err, out)
	}
	if e, err := blend.ReadEntry(placed); err != nil || e.NumPlaces() != 2 || e.PlacePrompts[0] != "a cat and <new1> dog" {
		t.Fatalf("entry with places: %+v, %v", e, err)
	}
	if _, err := runCmd(t, "extract", "--model", model, "--delta", delta, "--places", "3", "--fillers", "cat", "--out", placed); err == nil ||
		!strings.Contains(err.Error(), "3 places need 2 filler nouns") {
		t.Errorf("extract --places 3 with one filler: %v", err)
	}
	for _, tc := range []struct{ flag, want string }{{"--quiet", `"concept1_place":"1"`}, {"--no-places", `"places":"off"`}} {
		img := filepath.Join(dir, "placed.png")
		if out, err := runCmd(t, "generate", "--model", model, "--prompt", "a cat and a dog", "--concept", "dog="+placed,
			"--steps", "2", "--height", "32", "--width", "32", "--quiet", tc.flag, "--out", img); err != nil {
			t.Fatalf("generate with an entry with places: %v\n%s", err, out)
		}
		if all := pngText(t, img); !strings.Contains(all, tc.want) {
			t.Errorf("generate %s: image metadata lacks %s: %s", tc.flag, tc.want, all)
		}
	}
	// Without --reg the command says prior preservation is off; bad input names the file.
	os.WriteFile(filepath.Join(inst, "zz.png"), []byte("garbage"), 0o644)
	out, err = runCmd(t, "train", "--model", model, "--images", inst, "--class", "dog", "--out", delta)
	if err == nil || !strings.Contains(err.Error(), "zz.png") || !strings.Contains(out, "prior preservation is off") {
		t.Errorf("unreadable image: err %v, output %q", err, out)
	}
}

func TestBenchTrainCommand(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	out, err := runCmd(t, "bench", "train", "--model", model, "--steps", "2", "--resolution", "32")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	for _, k := range []string{"steps_per_sec_1=", "steps_per_sec_2=", "allreduce_share_2=", "resolution=32"} {
		if !strings.Contains(last, k) {
			t.Errorf("last line %q lacks %s", last, k)
		}
	}
}
