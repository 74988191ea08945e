package sdxl

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks no test leaves goroutines behind (the concurrent-generation test
// starts some; the nn engine starts workers per call). The shared tiny pipeline is
// closed first so its compiled graphs are released.
func TestMain(m *testing.M) {
	code := m.Run()
	if tinyPipeline.p != nil {
		tinyPipeline.p.Close()
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			os.Stderr.WriteString("goleak: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
