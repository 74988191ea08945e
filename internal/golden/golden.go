// Package golden locates the reference tensors produced by the original Python code
// (../shared/golden beside the repository root) for tests. Tests skip, naming the missing
// folder, when it is absent; its files are never copied into the repository.
package golden

import (
	"os"
	"path/filepath"
	"testing"
)

// EnvDir overrides the location of the golden folder.
const EnvDir = "LATEXBLEND_GOLDEN"

// Find returns the golden folder: $LATEXBLEND_GOLDEN, or ../shared/golden next to the
// repository root found by walking up from the working directory to go.mod.
func Find() (string, bool) {
	if d := os.Getenv(EnvDir); d != "" {
		st, err := os.Stat(d)
		return d, err == nil && st.IsDir()
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			g := filepath.Join(filepath.Dir(dir), "shared", "golden")
			st, err := os.Stat(g)
			return g, err == nil && st.IsDir()
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

// Dir returns the golden folder or skips the test with a message naming where it looked.
func Dir(tb testing.TB) string {
	tb.Helper()
	d, ok := Find()
	if !ok {
		if d == "" {
			d = "../shared/golden (beside the repository root)"
		}
		tb.Skipf("golden reference folder %s is absent; set %s to its location to run this test", d, EnvDir)
	}
	return d
}

// Path joins elements onto the golden folder, skipping the test when it is absent.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	return filepath.Join(append([]string{Dir(tb)}, elem...)...)
}
