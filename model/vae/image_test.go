package vae

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

func TestFromImagesNormalizes(t *testing.T) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.SetNRGBA(0, 0, color.NRGBA{R: 0, G: 255, B: 128, A: 255})
	// Alpha is dropped, not composited: PIL's convert("RGB") keeps the colour.
	img.SetNRGBA(2, 1, color.NRGBA{R: 10, G: 20, B: 30, A: 0})
	x, err := FromImages(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := []int(x.Shape()); len(got) != 4 || got[0] != 1 || got[1] != 3 || got[2] != 2 || got[3] != 3 {
		t.Fatalf("shape %v, want [1 3 2 3]", got)
	}
	d := x.Data().([]float32)
	const plane = 6
	for _, tc := range []struct {
		name string
		at   int
		want float32
	}{
		{"R=0", 0, -1},
		{"G=255", plane, 1},
		{"B=128", 2 * plane, float32(128/127.5 - 1)},
		{"transparent R=10", 5, float32(10/127.5 - 1)},
		{"transparent B=30", 2*plane + 5, float32(30/127.5 - 1)},
	} {
		if d[tc.at] != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, d[tc.at], tc.want)
		}
	}
	// B=188 is where the two normalisations part: float64 188/127.5 - 1 rounds to
	// 0.4745098, diffusers' float32 2·(188/255) - 1 gives 0.47450984.
	img.SetNRGBA(1, 0, color.NRGBA{B: 188, A: 255})
	if x, err = FromImages(img); err != nil {
		t.Fatal(err)
	}
	q := float32(188) / 255
	if got, diffusers := x.Data().([]float32)[2*plane+1], float32(2*q)-1; got != 0.4745098 || got == diffusers {
		t.Errorf("B=188 is %.9g, want 0.4745098 (diffusers' float32 formula gives %.9g)", got, diffusers)
	}
}

func TestFromImagesPremultipliedRGBA(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.SetRGBA(0, 0, color.RGBA{R: 50, G: 0, B: 0, A: 100}) // straight R = 50·255/100 = 127.5 → 127
	x, err := FromImages(img)
	if err != nil {
		t.Fatal(err)
	}
	want := float32(float64(color.NRGBAModel.Convert(color.RGBA{R: 50, A: 100}).(color.NRGBA).R)/127.5 - 1)
	if got := x.Data().([]float32)[0]; got != want {
		t.Errorf("R %v, want %v (un-premultiplied)", got, want)
	}
}

func TestFromImagesErrors(t *testing.T) {
	a := image.NewRGBA(image.Rect(0, 0, 4, 4))
	for _, tc := range []struct {
		name string
		imgs []image.Image
		want string
	}{
		{"none", nil, "no images"},
		{"nil", []image.Image{a, nil}, "image 1 is nil"},
		{"sizes differ", []image.Image{a, image.NewRGBA(image.Rect(0, 0, 4, 5))}, "image 1 is 4x5, image 0 is 4x4"},
		{"empty", []image.Image{image.NewRGBA(image.Rect(0, 0, 0, 3))}, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromImages(tc.imgs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestImageRoundTrip: every 8-bit value survives FromImages then ToImages, in every
// channel and batch position, with a sub-image whose bounds do not start at 0.
func TestImageRoundTrip(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 20, 20))
	for i := 0; i < 256; i++ {
		src.SetNRGBA(2+i%16, 3+i/16, color.NRGBA{R: uint8(i), G: uint8(255 - i), B: uint8(i * 7), A: 255})
	}
	sub := src.SubImage(image.Rect(2, 3, 18, 19))
	other := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	x, err := FromImages(other, sub)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ToImages(x)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].Bounds() != image.Rect(0, 0, 16, 16) {
		t.Fatalf("got %d images, second %v", len(out), out[1].Bounds())
	}
	for i := 0; i < 256; i++ {
		got := out[1].RGBAAt(i%16, i/16)
		want := color.RGBA{R: uint8(i), G: uint8(255 - i), B: uint8(i * 7), A: 255}
		if got != want {
			t.Fatalf("pixel %d: %v, want %v", i, got, want)
		}
	}
}

// halfwayInput finds a float32 x whose postprocessed value (x/2+0.5)·255 is exactly
// k + 0.5 in float32 arithmetic, so rounding direction is observable.
func halfwayInput(t *testing.T, k int) float32 {
	t.Helper()
	target := float32(k) + 0.5
	v := target / 255
	for i := 0; i < 64; i++ {
		for _, c := range []float32{math.Nextafter32(v, 0), v, math.Nextafter32(v, 1)} {
			if c*255 == target {
				x := (c - 0.5) * 2
				if float32(x/2)+0.5 == c {
					return x
				}
			}
		}
		v = math.Nextafter32(v, 0)
	}
	t.Skipf("no float32 maps exactly to %v", target)
	return 0
}

func TestToImagesRounding(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    float32
		want uint8
	}{
		{"-1", -1, 0},
		{"+1", 1, 255},
		{"below range", -3, 0},
		{"above range", 7, 255},
		{"NaN", float32(math.NaN()), 0},
		{"0 → 127.5 → 128 (even)", 0, 128},
		{"126.5 → 126 (half to even)", halfwayInput(t, 126), 126},
		{"124.5 → 124 (half to even)", halfwayInput(t, 124), 124},
		{"125.5 → 126 (half to even)", halfwayInput(t, 125), 126},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := tensor.New(tensor.WithShape(1, 3, 1, 1), tensor.WithBacking([]float32{tc.x, tc.x, tc.x}))
			imgs, err := ToImages(x)
			if err != nil {
				t.Fatal(err)
			}
			if got := imgs[0].RGBAAt(0, 0); got.R != tc.want || got.B != tc.want || got.A != 255 {
				t.Errorf("x = %v: pixel %v, want %d", tc.x, got, tc.want)
			}
		})
	}
}

func TestToImagesFloat64AndLayout(t *testing.T) {
	// [1, 3, 1, 2]: channel planes, then columns.
	x := tensor.New(tensor.WithShape(1, 3, 1, 2), tensor.WithBacking([]float64{-1, 1, 1, -1, 0, 0}))
	imgs, err := ToImages(x)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := imgs[0].RGBAAt(0, 0), (color.RGBA{0, 255, 128, 255}); got != want {
		t.Errorf("pixel (0,0) %v, want %v", got, want)
	}
	if got, want := imgs[0].RGBAAt(1, 0), (color.RGBA{255, 0, 128, 255}); got != want {
		t.Errorf("pixel (1,0) %v, want %v", got, want)
	}
}

func TestToImagesErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    *tensor.Dense
		want string
	}{
		{"4 channels", tensor.New(tensor.WithShape(1, 4, 2, 2), tensor.Of(tensor.Float32)), "want [B, 3, H, W]"},
		{"3-D", tensor.New(tensor.WithShape(3, 2, 2), tensor.Of(tensor.Float32)), "want [B, 3, H, W]"},
		{"int", tensor.New(tensor.WithShape(1, 3, 1, 1), tensor.Of(tensor.Int)), "float32 or float64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ToImages(tc.x)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
