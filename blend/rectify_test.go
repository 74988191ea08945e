package blend

import (
	"math"
	"testing"
)

// threeConceptLayout builds an 8×8 grid with four vertical bands (segments 0…3); the
// cross-attention of concept c's noun (tokens 2, 5, 8) peaks on band c+1, so concept
// c must be matched to segment c+1 and segment 0 stays background.
func threeConceptLayout(t *testing.T) ([][]float32, [][]float32, []Slot, grid) {
	t.Helper()
	const h, w, tokens = 8, 8, 12
	top := grid{h, w}
	clusters := make([]int, h*w)
	for q := range clusters {
		clusters[q] = (q % w) / 2
	}
	slots := []Slot{{"a", 1, 3}, {"b", 4, 6}, {"c", 7, 9}}
	a := make([]float64, h*w*tokens)
	for q := range clusters {
		for tk := 0; tk < tokens; tk++ {
			a[q*tokens+tk] = 0.01
		}
		for c, s := range slots {
			if clusters[q] == c+1 {
				a[q*tokens+s.End-1] = 0.5
			}
		}
	}
	maps, own, err := layoutMaps(clusters, 4, []crossMap{{g: top, a: a}}, top, tokens, slots)
	if err != nil {
		t.Fatal(err)
	}
	return maps, own, slots, top
}

func TestLayoutMapsMatching(t *testing.T) {
	maps, own, _, top := threeConceptLayout(t)
	for c := 0; c < 3; c++ {
		for q := 0; q < top.n(); q++ {
			seg := (q % top.w) / 2
			if want := float32(b2f(seg == c+1)); own[c][q] != want {
				t.Fatalf("concept %d own segment at %d: %v, want %v", c, q, own[c][q], want)
			}
			// layout[c] = other concepts' segments, normalised per pixel over the K+1
			// maps: inside another concept's band 2 maps are 1 → ½ each.
			want := 0.0
			if seg != 0 && seg != c+1 {
				want = 0.5
			}
			if math.Abs(float64(maps[c][q])-want) > 1e-6 {
				t.Fatalf("layout[%d] at %d (segment %d): %v, want %v", c, q, seg, maps[c][q], want)
			}
		}
	}
	for q := 0; q < top.n(); q++ {
		if want := b2f((q%top.w)/2 == 0); math.Abs(float64(maps[3][q])-want) > 1e-6 {
			t.Fatalf("background at %d: %v, want %v", q, maps[3][q], want)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestTokenMasksThreeConcepts: with 3 concepts the reference's boost mask of concept 0
// is positive inside concept 1's region (1 − 1/(K−1) there), so both updates hit those
// pixels; the fixed masks boost only the concept's own segment and suppress only the
// others'. Both are downsampled by nearest to a coarser grid.
func TestTokenMasksThreeConcepts(t *testing.T) {
	maps, own, slots, top := threeConceptLayout(t)
	const tokens = 12
	inBand := func(g grid, q, band int) bool { return (q%g.w)*top.w/g.w/2 == band }
	for _, g := range []grid{top, {4, 4}} {
		compatB, compatS := tokenMasks(maps, own, top, g, tokens, slots, true)
		fixedB, fixedS := tokenMasks(maps, own, top, g, tokens, slots, false)
		tok := slots[0].Start // concept 0's modifier slot
		for q := 0; q < g.n(); q++ {
			own0, other := inBand(g, q, 1), inBand(g, q, 2) || inBand(g, q, 3)
			if (fixedB[q*tokens+tok] > 0) != own0 || (fixedS[q*tokens+tok] > 0) != other {
				t.Fatalf("grid %v pixel %d: fixed boost %v suppress %v (own %v other %v)", g, q, fixedB[q*tokens+tok], fixedS[q*tokens+tok], own0, other)
			}
			if other && compatB[q*tokens+tok] == 0 {
				t.Fatalf("grid %v pixel %d: the reference's boost should leak into other concepts' regions", g, q)
			}
			if (compatS[q*tokens+tok] > 0) != other {
				t.Fatalf("grid %v pixel %d: reference suppress %v", g, q, compatS[q*tokens+tok])
			}
			if fixedB[q*tokens+0] != 0 || fixedS[q*tokens+3] != 0 {
				t.Fatal("tokens outside the slots must stay untouched")
			}
		}
		// Size regularisation: 1 − area/N; concept 0 owns a quarter of the image.
		for q := 0; q < g.n(); q++ {
			if v := fixedB[q*tokens+tok]; v != 0 && math.Abs(float64(v)-0.75) > 1e-6 {
				t.Fatalf("boost base %v, want 1 − 1/4", v)
			}
		}
	}
}

// TestTwoConceptMasksAgree: with two concepts the fixed masks equal the reference's.
func TestTwoConceptMasksAgree(t *testing.T) {
	const h, w, tokens = 8, 8, 8
	top := grid{h, w}
	clusters := make([]int, h*w)
	for q := range clusters {
		clusters[q] = (q % w) / 3 // segments 0, 1, 2 (2 is narrower)
	}
	slots := []Slot{{"a", 1, 3}, {"b", 4, 6}}
	a := make([]float64, h*w*tokens)
	for q, s := range clusters {
		a[q*tokens+2] = 0.1 + 0.8*b2f(s == 0)
		a[q*tokens+5] = 0.1 + 0.8*b2f(s == 2)
	}
	maps, own, err := layoutMaps(clusters, 3, []crossMap{{g: top, a: a}}, top, tokens, slots)
	if err != nil {
		t.Fatal(err)
	}
	cb, cs := tokenMasks(maps, own, top, top, tokens, slots, true)
	fb, fs := tokenMasks(maps, own, top, top, tokens, slots, false)
	for i := range cb {
		if cb[i] != fb[i] || cs[i] != fs[i] {
			t.Fatalf("entry %d: reference boost/suppress %v/%v, fixed %v/%v", i, cb[i], cs[i], fb[i], fs[i])
		}
	}
}
