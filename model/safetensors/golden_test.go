package safetensors

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

// TestReadGoldenFiles reads files written by the reference environment.
func TestReadGoldenFiles(t *testing.T) {
	f, err := Open(golden.Path(t, "cases", "vae.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := []string{"decoded", "image", "latent", "logvar", "mean", "std"}
	got := f.Names()
	if len(got) != len(want) {
		t.Fatalf("names %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("names %v, want %v", got, want)
		}
	}
	if f.Metadata()["format"] != "pt" {
		t.Errorf("metadata %v, want format=pt", f.Metadata())
	}
	// std = exp(0.5·logvar) in AutoencoderKL's DiagonalGaussianDistribution: a check that
	// the values (not just the layout) were decoded correctly.
	logvar, shape, err := f.Float32("logvar")
	if err != nil {
		t.Fatal(err)
	}
	std, _, err := f.Float32("std")
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 4 || shape[0] != 1 || shape[1] != 4 || shape[2] != 32 || shape[3] != 32 {
		t.Fatalf("logvar shape %v, want [1 4 32 32]", shape)
	}
	for i := range logvar {
		if w := math.Exp(0.5 * float64(logvar[i])); math.Abs(float64(std[i])-w) > 1e-6*w {
			t.Fatalf("std[%d] = %v, exp(logvar/2) = %v", i, std[i], w)
		}
	}

	text, err := Open(golden.Path(t, "cases", "text.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	ids, shape, err := text.Int64("input_ids_1")
	if err != nil {
		t.Fatal(err)
	}
	if len(shape) != 2 || shape[0] != 3 || shape[1] != 77 {
		t.Fatalf("input_ids_1 shape %v, want [3 77]", shape)
	}
	if ids[0] != 49406 {
		t.Errorf("input_ids_1[0,0] = %d, want BOS 49406", ids[0])
	}
}

// TestReadEveryGoldenFile opens every safetensors file of the golden folder (written by
// the reference environment's writer) and reads every tensor with the reader its dtype
// calls for.
func TestReadEveryGoldenFile(t *testing.T) {
	dir := golden.Dir(t)
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".safetensors") {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no safetensors files under %s", dir)
	}
	tensors := 0
	for _, p := range paths {
		f, err := Open(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		for _, info := range f.Tensors() {
			var n int
			switch {
			case info.DType.IsFloat():
				v, _, err := f.Float32(info.Name)
				if err != nil {
					t.Error(err)
				}
				n = len(v)
			case info.DType.IsInt():
				v, _, err := f.Int64(info.Name)
				if err != nil {
					t.Error(err)
				}
				n = len(v)
			default:
				t.Errorf("%s: tensor %q has dtype %s", p, info.Name, info.DType)
			}
			if int64(n) != info.NumElements() {
				t.Errorf("%s: tensor %q: read %d values, shape %v", p, info.Name, n, info.Shape)
			}
			tensors++
		}
		f.Close()
	}
	t.Logf("read %d tensors from %d files", tensors, len(paths))
}
