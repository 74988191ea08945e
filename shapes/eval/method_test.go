package eval

import (
	"slices"
	"strings"
	"testing"

	"github.com/latexblend/latexblend/shapes"
)

// TestParseMethod: every default method, the context and ordinal diagnostics and the
// places extension parse, none of those three runs by default, and an unknown name is
// refused by name.
func TestParseMethod(t *testing.T) {
	for _, m := range AllMethods() {
		got, err := ParseMethod(string(m))
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", m, got, err)
		}
	}
	for _, m := range []Method{Context, Ordinal} {
		if slices.Contains(Methods(), m) || !slices.Contains(AllMethods(), m) {
			t.Errorf("%s must be in AllMethods %v and not in the defaults %v", m, AllMethods(), Methods())
		}
		if !m.blends() || m.needsEntries() {
			t.Errorf("%s blends %v, needs entries %v; want a blending method that needs no trained entries",
				m, m.blends(), m.needsEntries())
		}
	}
	if slices.Contains(Methods(), Places) || !Places.blends() || !Places.needsEntries() {
		t.Errorf("places: in the defaults %v, blends %v, needs entries %v; want an opt-in blending method on the trained deltas",
			slices.Contains(Methods(), Places), Places.blends(), Places.needsEntries())
	}
	if got := PlaceFillers(shapes.Circle, 2); !slices.Equal(got, []string{"square", "triangle"}) {
		t.Errorf("PlaceFillers(circle, 2) = %q", got)
	}
	if got := PlaceFillers(shapes.Star, 2); !slices.Equal(got, []string{"circle", "square"}) {
		t.Errorf("PlaceFillers(star, 2) = %q", got)
	}
	if _, err := ParseMethod("incontext"); err == nil || !strings.Contains(err.Error(), `"incontext"`) {
		t.Errorf("ParseMethod(\"incontext\"): %v, want an error naming it", err)
	}
}
