package diffusers

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/latexblend/latexblend/internal/golden"
)

// tinySDXL returns the reference tiny SDXL model folder, skipping when absent.
func tinySDXL(t *testing.T) string {
	t.Helper()
	return golden.Path(t, "tiny-sdxl")
}

// specPath returns a file of ../shared/spec (the golden folder's sibling), skipping
// when absent.
func specPath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(golden.Dir(t), "..", "spec", name)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("spec file %s is absent", p)
	}
	return p
}

// copyModel copies a model folder into a temp dir: configs are copied (so a test may
// edit them), weight files are symlinked (large, and read-only here).
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if filepath.Ext(p) == ".safetensors" {
			return os.Symlink(p, target)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeText(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
