package main

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShapesSample draws two prompts × two seeds from the committed shapes model and
// checks the sheet's size and the key=value line; a missing model is a clear error.
func TestShapesSample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "sheet.png")
	got, err := run(t.Context(), "shapes", "sample", "--model", "../../shapes/model", "--out", out,
		"--prompt", "a red circle", "--prompt", "a checkered square", "--seeds", "2", "--steps", "2")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "prompts=2 images=4") {
		t.Fatalf("output %q, want prompts=2 images=4", got)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	// two 64-px columns and rows with 2-px padding around and between them
	if cfg.Width != 2*64+3*2 || cfg.Height != 2*64+3*2 {
		t.Fatalf("sheet is %d×%d, want 134×134", cfg.Width, cfg.Height)
	}
	if _, err := run(t.Context(), "shapes", "sample", "--model", t.TempDir(), "--out", out); err == nil {
		t.Fatal("sampling a folder without a model succeeded")
	}
}
