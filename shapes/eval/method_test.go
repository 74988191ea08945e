package eval

import (
	"slices"
	"strings"
	"testing"
)

// TestParseMethod: every default method and the context diagnostic parse, context is
// not run by default, and an unknown name is refused by name.
func TestParseMethod(t *testing.T) {
	for _, m := range AllMethods() {
		got, err := ParseMethod(string(m))
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %q, %v", m, got, err)
		}
	}
	if slices.Contains(Methods(), Context) || !slices.Contains(AllMethods(), Context) {
		t.Errorf("context must be in AllMethods %v and not in the defaults %v", AllMethods(), Methods())
	}
	if !Context.blends() || Context.needsEntries() {
		t.Errorf("context blends %v, needs entries %v; want a blending method that needs no trained entries",
			Context.blends(), Context.needsEntries())
	}
	if _, err := ParseMethod("incontext"); err == nil || !strings.Contains(err.Error(), `"incontext"`) {
		t.Errorf("ParseMethod(\"incontext\"): %v, want an error naming it", err)
	}
}
