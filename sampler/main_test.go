package sampler

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/leakcheck"
	"github.com/latexblend/latexblend/model/sdxl"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

var (
	tinyOnce sync.Once
	tiny     *sdxl.Pipeline
	tinyErr  error
)

// loadTiny loads golden tiny-sdxl once per test binary (skipping without the golden
// folder).
func loadTiny(t testing.TB) *sdxl.Pipeline {
	t.Helper()
	dir := golden.Dir(t.(*testing.T))
	tinyOnce.Do(func() { tiny, tinyErr = sdxl.Load(filepath.Join(dir, "tiny-sdxl"), sdxl.LoadOptions{}) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

// randomEntry is SyntheticEntry for tests.
func randomEntry(t testing.TB, p *sdxl.Pipeline, noun string, seed uint64) *blend.Entry {
	t.Helper()
	e, err := SyntheticEntry(p, noun, seed)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// entryBytes is blend.EncodeEntry for tests.
func entryBytes(t testing.TB, e *blend.Entry) []byte {
	t.Helper()
	b, err := blend.EncodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
