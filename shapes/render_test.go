package shapes

import (
	"crypto/sha256"
	"encoding/hex"
	"image/color"
	"strings"
	"testing"
)

// pixelHash hashes the raw RGBA bytes of every sample in order.
func pixelHash(t *testing.T, samples []Sample) string {
	t.Helper()
	h := sha256.New()
	for _, s := range samples {
		h.Write(s.Image.Pix)
		h.Write([]byte(s.Caption))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestDatasetIsPinned pins the bytes of a rendered base set and a concept set: a change
// here changes the data every model of the project was trained on.
func TestDatasetIsPinned(t *testing.T) {
	ds, err := Dataset(7, 24, DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := ConceptSet("rainbow-ring", ConceptImages, DefaultSize)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		samples []Sample
		want    string
	}{
		{"base seed 7", ds, "6ea3e6ddbd17fef1c7a994569afb4b62d553bacb11a86f93e58ddf704218dd89"},
		{"rainbow-ring", cs, "101240404ecc732cb877e98daf9561fe34e98f9fc18d3b19246b23721fb7bbae"},
	} {
		if got := pixelHash(t, tc.samples); got != tc.want {
			t.Errorf("%s: pixel+caption sha256 = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestDatasetItemsDoNotDependOnLength(t *testing.T) {
	long, err := Dataset(3, 12, 32)
	if err != nil {
		t.Fatal(err)
	}
	short, err := Dataset(3, 5, 32)
	if err != nil {
		t.Fatal(err)
	}
	if pixelHash(t, long[:5]) != pixelHash(t, short) {
		t.Fatal("the first 5 items of a 12-item set differ from a 5-item set")
	}
	other, err := Dataset(4, 5, 32)
	if err != nil {
		t.Fatal(err)
	}
	if pixelHash(t, other) == pixelHash(t, short) {
		t.Fatal("seeds 3 and 4 gave the same images")
	}
}

func TestRenderColoursObjectsAndBackground(t *testing.T) {
	bg := color.RGBA{205, 205, 200, 255}
	s := Scene{
		Background: Background{Kind: Flat, From: bg, To: bg},
		Objects: []Object{
			{Class: Circle, Color: 0, X: 256, Y: 256, R: 200},
			{Class: Ring, Color: 4, X: 768, Y: 768, R: 200},
			{Class: Star, Texture: Checker, X: 768, Y: 256, R: 200},
		},
	}
	img, err := Render(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	px := func(x, y int) color.RGBA { return img.RGBAAt(x*64/SceneUnits, y*64/SceneUnits) }
	for _, tc := range []struct {
		name string
		x, y int
		want color.RGBA
	}{
		{"circle centre", 256, 256, Colors[0].RGB},
		{"ring band", 768 + 160, 768, Colors[4].RGB},
		{"ring hole", 768, 768, bg},
		{"corner", 4, 1020, bg},
		{"between objects", 512, 512, bg},
	} {
		if got := px(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: pixel at scene (%d, %d) = %v, want %v", tc.name, tc.x, tc.y, got, tc.want)
		}
	}
	// The checkered star shows both checker colours.
	var dark, light int
	for y := 4; y < 28; y++ {
		for x := 36; x < 60; x++ {
			switch img.RGBAAt(x, y) {
			case checkerDark:
				dark++
			case checkerLight:
				light++
			}
		}
	}
	if dark < 20 || light < 20 {
		t.Errorf("checkered star: %d pure dark and %d pure light pixels, want 20+ of each", dark, light)
	}
}

func TestGradientBackgroundEnds(t *testing.T) {
	a, b := color.RGBA{0, 0, 0, 255}, color.RGBA{255, 255, 255, 255}
	img := MustRender(Scene{Background: Background{Kind: Vertical, From: a, To: b}}, 16)
	top, bottom := img.RGBAAt(8, 0), img.RGBAAt(8, 15)
	if top.R > 20 || bottom.R < 235 || img.RGBAAt(0, 7).R != img.RGBAAt(15, 7).R {
		t.Fatalf("vertical gradient: top %v, bottom %v, want dark to light with equal rows", top, bottom)
	}
}

func TestInsideEachClass(t *testing.T) {
	const r = 100
	for _, tc := range []struct {
		class  Class
		dx, dy int
		want   bool
	}{
		{Circle, 0, 0, true}, {Circle, 70, 70, true}, {Circle, 75, 75, false},
		{Ring, 0, 0, false}, {Ring, 80, 0, true}, {Ring, 0, -99, true}, {Ring, 50, 0, false},
		{Square, 84, -84, true}, {Square, 90, 0, false},
		{Cross, 95, 0, true}, {Cross, 0, -95, true}, {Cross, 60, 60, false},
		{Triangle, 0, -90, true}, {Triangle, 90, 75, true}, {Triangle, 60, -40, false}, {Triangle, 0, 85, false},
		{Star, 0, 0, true}, {Star, 0, -85, true}, {Star, 60, -50, false}, {Star, 0, 95, false}, {Star, 90, -20, true},
	} {
		if got := inside(tc.class, tc.dx, tc.dy, r); got != tc.want {
			t.Errorf("inside(%v, %d, %d, r=%d) = %v, want %v", tc.class, tc.dx, tc.dy, r, got, tc.want)
		}
	}
}

func TestRenderRejectsBadInput(t *testing.T) {
	good := Object{Class: Circle, X: 500, Y: 500, R: 100}
	for _, tc := range []struct {
		name string
		obj  Object
		size int
		want string
	}{
		{"size", good, 48, "image size 48"},
		{"class", Object{Class: 9, X: 1, Y: 1, R: 5}, 64, "class 9"},
		{"texture", Object{Texture: 7, X: 1, Y: 1, R: 5}, 64, "texture 7"},
		{"colour", Object{Color: -1, X: 1, Y: 1, R: 5}, 64, "colour -1"},
		{"radius", Object{X: 1, Y: 1, R: 0}, 64, "size R=0"},
	} {
		_, err := Render(Scene{Objects: []Object{tc.obj}}, tc.size)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}
