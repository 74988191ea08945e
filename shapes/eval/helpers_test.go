package eval

import (
	"strings"
	"testing"
)

// parseLine splits a key=value line, failing on a malformed or repeated field.
func parseLine(t *testing.T, line string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" || v == "" {
			t.Fatalf("field %q of %q is not key=value", f, line)
		}
		if _, dup := kv[k]; dup {
			t.Fatalf("key %s repeated in %q", k, line)
		}
		kv[k] = v
	}
	return kv
}
