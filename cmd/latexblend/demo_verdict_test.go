package main

import (
	"encoding/json"
	"image"
	"image/color"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/model/sdxl"
	"github.com/latexblend/latexblend/shapes"
)

// TestDemoVerdictOnRenderedGrid judges a 2×2 grid of rendered scenes laid out as
// `generate --cluster` writes it (three images, one empty cell): a checker star beside a
// rainbow ring, a plain star beside a rainbow ring, and a checker ring (the star's
// texture bled onto the ring) beside a plain star. The verdict must tell them apart.
func TestDemoVerdictOnRenderedGrid(t *testing.T) {
	bg := shapes.Background{Kind: shapes.Flat, From: color.RGBA{230, 230, 230, 255}}
	scene := func(left, right shapes.Object) shapes.Scene {
		left.X, left.Y, left.R = 280, 512, 200
		right.X, right.Y, right.R = 744, 512, 200
		return shapes.Scene{Background: bg, Objects: []shapes.Object{left, right}}
	}
	scenes := []shapes.Scene{
		scene(shapes.Object{Class: shapes.Star, Texture: shapes.Checker}, shapes.Object{Class: shapes.Ring, Texture: shapes.Rainbow}),
		scene(shapes.Object{Class: shapes.Star, Color: 4}, shapes.Object{Class: shapes.Ring, Texture: shapes.Rainbow}),
		scene(shapes.Object{Class: shapes.Ring, Texture: shapes.Checker}, shapes.Object{Class: shapes.Star, Color: 1}),
	}
	grid := image.NewRGBA(image.Rect(0, 0, 128, 128))
	for i, s := range scenes {
		img, err := shapes.Render(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		at := image.Pt((i%2)*64, (i/2)*64)
		for y := range 64 {
			for x := range 64 {
				grid.Set(at.X+x, at.Y+y, img.At(x, y))
			}
		}
	}
	layout, _ := json.Marshal(map[string]int{"cols": 2, "rows": 2, "images": 3})
	path := filepath.Join(t.TempDir(), "grid.png")
	if err := sdxl.WritePNG(path, grid, []sdxl.TextChunk{{Key: GridKey, Text: string(layout)}}); err != nil {
		t.Fatal(err)
	}

	out, err := runCmd(t, "demo", "verdict", path, "--concept", "star=checker-star", "--concept", "ring=rainbow-ring")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 3 images + summary:\n%s", len(lines), out)
	}
	for i, want := range []string{
		"checker-star=found rainbow-ring=found; all asked classes present; no bleeding",
		"checker-star=missing rainbow-ring=found; all asked classes present; no bleeding",
		"checker-star=missing rainbow-ring=missing; all asked classes present; bleeding checker@ring",
	} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("image %d: %q\nwant it to contain %q", i, lines[i], want)
		}
	}
	sum := lines[3]
	for _, kv := range []string{"images=3", "all_concepts_found=1", "classes_present=3", "bleeding=1", "found_checker-star=1", "found_rainbow-ring=2"} {
		if !strings.Contains(" "+sum+" ", " "+kv+" ") {
			t.Errorf("summary %q lacks %s", sum, kv)
		}
	}
}

func TestDemoVerdictErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.png")
	if err := sdxl.WritePNG(path, image.NewRGBA(image.Rect(0, 0, 64, 64)), nil); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "bad.png")
	layout := `{"cols":3,"rows":1,"images":3}`
	if err := sdxl.WritePNG(bad, image.NewRGBA(image.Rect(0, 0, 64, 64)), []sdxl.TextChunk{{Key: GridKey, Text: layout}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{path, "--concept", "star"}, "want NOUN=NAME"},
		{[]string{path, "--concept", "dog=mydog"}, "only the shapes-world concepts"},
		{[]string{path, "--concept", "ring=checker-star"}, "checker-star is a star, not a ring"},
		{[]string{bad, "--concept", "star=checker-star"}, "does not split into 3×1"},
		{[]string{filepath.Join(t.TempDir(), "missing.png"), "--concept", "star=checker-star"}, "missing.png"},
	} {
		out, err := runCmd(t, append([]string{"demo", "verdict"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("demo verdict %v: %v (output %q), want an error containing %q", tc.args, err, out, tc.want)
		}
	}
}
