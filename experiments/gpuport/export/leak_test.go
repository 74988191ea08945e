package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The tool renders scenes on goroutines (and reference runs the model's graphs):
// nothing may outlive a call.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
