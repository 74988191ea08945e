package nn

import (
	"testing"

	"go.uber.org/goleak"
)

// Kernels split loops across goroutines; every one must be gone when a run returns.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
