package main

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/goldentest"
	"github.com/latexblend/latexblend/model/diffusers"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/model/sdxl"
)

// readPNGMeta reads a generated image's metadata back with our chunk reader.
func readPNGMeta(t *testing.T, path string) (*sdxl.ImageMetadata, string) {
	t.Helper()
	texts, err := sdxl.ReadPNGTextFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sdxl.ParseImageMetadata(texts)
	if err != nil {
		t.Fatal(err)
	}
	params, ok := sdxl.LookupText(texts, sdxl.ParametersKey)
	if !ok {
		t.Fatalf("%s has no %q text entry", path, sdxl.ParametersKey)
	}
	return m, params
}

// pngText is every text chunk of a generated image, joined by spaces, for checks of
// what the metadata mentions.
func pngText(t *testing.T, path string) string {
	t.Helper()
	texts, err := sdxl.ReadPNGTextFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var all string
	for _, tx := range texts {
		all += tx.Text + " "
	}
	return all
}

func writeLatentsFile(t *testing.T, path string, v []float32, shape []int) {
	t.Helper()
	if err := safetensors.WriteFile(path, []safetensors.Tensor{{Name: "latents", Shape: shape, F32: v}}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateCommandGolden runs golden cases/pipeline through the command: its initial
// latents via --init-latents, 5 Euler steps, guidance 5, 64×64. The --out-latents file
// must match the reference final latents and the PNG the reference image (README
// tolerance 5e-4 of the largest magnitude, plus the 8-bit rounding), and the PNG's
// metadata must record the run.
func TestGenerateCommandGolden(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	ref, err := safetensors.Open(golden.Path(t, "cases", "pipeline.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	init, initShape, err := ref.Float32("initial_latents")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	initPath := filepath.Join(dir, "init.safetensors")
	writeLatentsFile(t, initPath, init, initShape)
	out, outLat := filepath.Join(dir, "dog.png"), filepath.Join(dir, "final.safetensors")
	stdout, err := runCmd(t, "generate", "--model", model, "--prompt", "a photo of a dog", "--steps", "5", "--cfg", "5",
		"--init-latents", initPath, "--out-latents", outLat, "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if !strings.Contains(stdout, "out="+out+" images=1 width=64 height=64 steps=5 cfg=5 seed=0 scheduler=euler elapsed_s=") {
		t.Errorf("summary line %q", stdout)
	}

	lat, err := safetensors.Open(outLat)
	if err != nil {
		t.Fatal(err)
	}
	defer lat.Close()
	got, shape, err := lat.Float32("latents")
	if err != nil {
		t.Fatal(err)
	}
	want, wantShape, _ := ref.Float32("latents_out")
	if !slices.Equal(shape, wantShape) {
		t.Fatalf("--out-latents shape %v, want %v", shape, wantShape)
	}
	if e := goldentest.RelErr(got, want); e > 5e-4 {
		t.Errorf("--out-latents: rel err %.3g > 5e-4", e)
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	wantImg, _, _ := ref.Float32("image_np") // [1, 64, 64, 3] in [0, 1]
	if b := img.Bounds(); b.Dx() != 64 || b.Dy() != 64 {
		t.Fatalf("image is %v, want 64x64", b)
	}
	worst := 0.0
	for y := range 64 {
		for x := range 64 {
			r, g, b, _ := img.At(x, y).RGBA()
			for c, v := range []uint32{r >> 8, g >> 8, b >> 8} {
				worst = math.Max(worst, math.Abs(float64(v)-255*float64(wantImg[(y*64+x)*3+c])))
			}
		}
	}
	if worst > 0.5+5e-4*255 {
		t.Errorf("PNG pixels differ from the reference image by %.3f levels", worst)
	}

	m, params := readPNGMeta(t, out)
	identity, err := diffusers.Identity(model)
	if err != nil {
		t.Fatal(err)
	}
	if m.Prompt != "a photo of a dog" || m.NegativePrompt != nil || m.Steps != 5 || m.GuidanceScale != 5 || m.Width != 64 || m.Height != 64 ||
		m.Scheduler != "euler" || m.ModelIdentity != identity || m.Version != buildVersion() || m.NumImages != 1 ||
		m.Size.OriginalSize != [2]int{64, 64} || m.Size.TargetSize != [2]int{64, 64} {
		t.Errorf("metadata %+v", m)
	}
	if m.InitLatents == nil || m.InitLatents.File != initPath || len(m.InitLatents.SHA256) != 64 || m.InitLatents.Row != 0 {
		t.Errorf("init latents reference %+v", m.InitLatents)
	}
	if !strings.HasPrefix(params, "a photo of a dog\nSteps: 5, Sampler: euler, CFG scale: 5, Seed: 0, Size: 64x64, Model hash: "+identity[:12]) {
		t.Errorf("parameters text %q", params)
	}
}

// TestGenerateCommandSeeds: a seeded run is reproducible byte for byte (the metadata
// holds nothing time-dependent), and a batch writes one file per image whose metadata
// names the seed that regenerates it alone.
func TestGenerateCommandSeeds(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	dir := t.TempDir()
	args := func(out string, extra ...string) []string {
		return append([]string{"generate", "--model", model, "--prompt", "a dog", "--negative-prompt", "", "--steps", "2",
			"--width", "32", "--height", "32", "--seed", "7", "--quiet", "--out", filepath.Join(dir, out)}, extra...)
	}
	for _, out := range []string{"a.png", "b.png"} {
		if stdout, err := runCmd(t, args(out)...); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
	}
	a, _ := os.ReadFile(filepath.Join(dir, "a.png"))
	b, _ := os.ReadFile(filepath.Join(dir, "b.png"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("two runs with seed 7 wrote different files")
	}
	m, params := readPNGMeta(t, filepath.Join(dir, "a.png"))
	if m.NegativePrompt == nil || *m.NegativePrompt != "" || !strings.Contains(params, "\nNegative prompt: \n") {
		t.Errorf("an explicit empty negative prompt is not recorded: %v %q", m.NegativePrompt, params)
	}
	if stdout, err := runCmd(t, args("batch.png", "--num-images", "2", "--scheduler", "ddim")...); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	for i, seed := range []uint64{7, 8} {
		m, params := readPNGMeta(t, filepath.Join(dir, "batch_"+string(rune('0'+i))+".png"))
		if m.Seed != 7 || m.ImageSeed != seed || m.BatchIndex != i || m.NumImages != 2 || m.Scheduler != "ddim" {
			t.Errorf("image %d metadata %+v", i, m)
		}
		if !strings.Contains(params, "Seed: "+string(rune('0'+seed))+",") || !strings.Contains(params, "Batch: "+string(rune('1'+i))+" of 2") {
			t.Errorf("image %d parameters %q", i, params)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "batch.png")); err == nil {
		t.Error("a batch also wrote the un-numbered file")
	}
}

func TestGenerateCommandErrors(t *testing.T) {
	model := golden.Path(t, "tiny-sdxl")
	dir := t.TempDir()
	out := filepath.Join(dir, "x.png")
	lat := filepath.Join(dir, "lat.safetensors")
	writeLatentsFile(t, lat, make([]float32, 2*4*8*8), []int{2, 4, 8, 8})
	odd := filepath.Join(dir, "odd.safetensors")
	writeLatentsFile(t, odd, make([]float32, 4*5*5), []int{1, 4, 5, 5})
	other := filepath.Join(dir, "other.safetensors")
	if err := safetensors.WriteFile(other, []safetensors.Tensor{{Name: "noise", Shape: []int{1, 4, 8, 8}, F32: make([]float32, 256)}}, nil); err != nil {
		t.Fatal(err)
	}
	base := []string{"generate", "--model", model, "--prompt", "a dog", "--steps", "1", "--out", out}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"generate", "--prompt", "x", "--out", out}, "--model DIR is required"},
		{"no out", []string{"generate", "--model", model, "--prompt", "x"}, "--out IMG.png is required"},
		{"no prompt", []string{"generate", "--model", model, "--out", out}, "--prompt TEXT is required"},
		{"steps", append(base, "--steps", "0"), "--steps 0"},
		{"width", append(base, "--width", "30"), "--width 30: must be a positive multiple of 4"},
		{"height", append(base, "--height", "66"), "--height 66"},
		{"scheduler", append(base, "--scheduler", "heun"), `--scheduler "heun"`},
		{"missing latents file", append(base, "--init-latents", filepath.Join(dir, "none.safetensors")), "--init-latents"},
		{"no latents tensor", append(base, "--init-latents", other), `has no tensor "latents"`},
		{"latents size", append(base, "--init-latents", lat, "--width", "32"), "--width 32 but --init-latents"},
		{"latents not a size multiple", append(base, "--init-latents", odd), "latents of 5x5 are 10x10 pixels: sdxl: height 10 is not a positive multiple of 4"},
		{"latents rows", append(base, "--init-latents", lat, "--num-images", "3"), "--num-images 3 but --init-latents"},
		{"out folder", []string{"generate", "--model", model, "--prompt", "x", "--out", filepath.Join(dir, "no", "x.png")}, "does not exist"},
		{"model folder", []string{"generate", "--model", dir, "--prompt", "x", "--out", out}, "--model " + dir},
	} {
		t.Run(c.name, func(t *testing.T) {
			stdout, err := runCmd(t, c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q\n%s", err, c.want, stdout)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run wrote the image")
	}
}

func TestProgressBar(t *testing.T) {
	for _, c := range []struct {
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{0, 10, 0, "[------------------------------] 0/10 --.-- it/s ETA --:--"},
		{3, 10, 1500 * time.Millisecond, "[#########---------------------] 3/10 2.00 it/s ETA 0:04"},
		{10, 10, 5 * time.Second, "[##############################] 10/10 2.00 it/s ETA 0:00"},
		{1, 200, 2 * time.Second, "[------------------------------] 1/200 0.50 it/s ETA 6:38"},
	} {
		if got := renderProgress(c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("renderProgress(%d, %d, %v) = %q, want %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
	// Not a terminal (or quiet): nothing is drawn.
	var buf bytes.Buffer
	bar := newProgressBar(&buf, false)
	bar.start(3)
	bar.update(&sdxl.Step{Index: 0, Total: 3})
	bar.finish()
	if buf.Len() != 0 {
		t.Errorf("progress drawn on a non-terminal: %q", buf.String())
	}
	// A terminal gets \r-redrawn lines and a final newline.
	clock := time.Unix(0, 0)
	bar = &progressBar{w: &buf, on: true, now: func() time.Time { return clock }}
	bar.start(2)
	clock = clock.Add(time.Second)
	bar.update(&sdxl.Step{Index: 0, Total: 2})
	bar.finish()
	if want := "\r[------------------------------] 0/2 --.-- it/s ETA --:--\r[###############---------------] 1/2 1.00 it/s ETA 0:01\x1b[K\n"; buf.String() != want {
		t.Errorf("terminal output %q, want %q", buf.String(), want)
	}
	if got := outputPaths("dir/img.png", 3); !slices.Equal(got, []string{"dir/img_0.png", "dir/img_1.png", "dir/img_2.png"}) {
		t.Errorf("output paths %v", got)
	}
}
