package judge

import (
	"image/color"
	"math"
	"testing"

	"github.com/latexblend/latexblend/shapes"
)

// TestSegmentFindsEachObject segments held-out renders (plain and textured objects, flat
// and gradient backgrounds) and checks that every object is one blob centred on it.
func TestSegmentFindsEachObject(t *testing.T) {
	const n = 600
	perfect := 0
	for i := 0; i < n; i++ {
		s := TrainingScene(HeldOutSeed, i, 1, 2)
		blobs := segment(shapes.MustRender(s, InputSize))
		matched := map[int]bool{}
		for _, bl := range blobs {
			for k, o := range s.Objects {
				if math.Abs((bl.cx+0.5)*16-float64(o.X)) < float64(o.R)/2 &&
					math.Abs((bl.cy+0.5)*16-float64(o.Y)) < float64(o.R)/2 {
					matched[k] = true
				}
			}
		}
		if len(blobs) == len(s.Objects) && len(matched) == len(s.Objects) {
			perfect++
		}
	}
	if perfect < n*995/1000 {
		t.Fatalf("%d of %d scenes segmented into exactly their objects, want 99.5%%+", perfect, n)
	}
}

func TestSegmentIgnoresNoiseAndGradients(t *testing.T) {
	bg := shapes.Background{Kind: shapes.Diagonal, From: color.RGBA{30, 40, 80, 255}, To: color.RGBA{210, 200, 220, 255}}
	img := shapes.MustRender(shapes.Scene{Background: bg}, InputSize)
	r := shapes.NewRand(1)
	noisy := augment(img, r, false)
	// A few isolated bright specks, smaller than any object.
	for k := 0; k < 10; k++ {
		noisy.SetRGBA(5+k*5, 30, color.RGBA{255, 0, 0, 255})
	}
	if blobs := segment(noisy); len(blobs) != 0 {
		t.Fatalf("empty gradient scene with noise: %d blobs, want 0", len(blobs))
	}
}

func TestSolve3(t *testing.T) {
	a := [3][3]float64{{2, 1, 0}, {1, 3, 1}, {0, 1, 4}}
	want := [3]float64{1, -2, 3}
	var b [3]float64
	for i := range b {
		for j := range want {
			b[i] += a[i][j] * want[j]
		}
	}
	got := solve3(a, b)
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Fatalf("solve3 = %v, want %v", got, want)
		}
	}
}
