package eval

import (
	"slices"
	"strings"
	"testing"
)

// TestParseMethod: every default method and the context and ordinal diagnostics
// parse, the diagnostics are not run by default, and an unknown name is refused by
// name.
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
	if _, err := ParseMethod("incontext"); err == nil || !strings.Contains(err.Error(), `"incontext"`) {
		t.Errorf("ParseMethod(\"incontext\"): %v, want an error naming it", err)
	}
}
