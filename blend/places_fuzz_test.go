package blend

import (
	"fmt"
	"testing"
)

// FuzzSplitPlace: any tensor name either stays place 1's, unchanged, or splits into a
// place in [2, places] and a rest that rebuild the name exactly.
func FuzzSplitPlace(f *testing.F) {
	for _, s := range []string{"down.attn2.k", "place2.down.attn2.k", "place02.m.v", "place.m.k", "place9.", "placement.k", "place3"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, name string, places int) {
		places = 1 + (places%MaxPlaces+MaxPlaces)%MaxPlaces
		k, rest, err := splitPlace(name, places)
		switch {
		case err != nil:
			if k != 0 || rest != "" {
				t.Fatalf("%q: error %v with place %d rest %q", name, err, k, rest)
			}
		case k == 1:
			if rest != name {
				t.Fatalf("%q: place 1 with rest %q", name, rest)
			}
		default:
			if k < 2 || k > places || fmt.Sprintf("place%d.%s", k, rest) != name {
				t.Fatalf("%q: place %d of %d, rest %q", name, k, places, rest)
			}
		}
	})
}
