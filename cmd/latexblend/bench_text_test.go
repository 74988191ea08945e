package main

import (
	"strconv"
	"strings"
	"testing"
)

// TestBenchTextTiny runs the tiny part of `bench text` and parses its key=value line
// (the SDXL-size encoders belong to the benchmark runs, not to tests).
func TestBenchTextTiny(t *testing.T) {
	out, err := runCmd(t, "bench", "text", "--skip-sdxl", "--runs", "2")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	kv := map[string]string{}
	for _, f := range strings.Fields(last) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			t.Fatalf("last line %q: field %q is not key=value", last, f)
		}
		kv[k] = v
	}
	if kv["blas"] == "" || kv["batch"] != "1" {
		t.Errorf("last line %q lacks blas= or batch=1", last)
	}
	if ms, err := strconv.ParseFloat(kv["tiny_ms"], 64); err != nil || ms <= 0 {
		t.Errorf("tiny_ms=%q is not a positive number", kv["tiny_ms"])
	}
	if _, ok := kv["sdxl_te1_ms"]; ok {
		t.Error("--skip-sdxl still measured the SDXL-size encoders")
	}
}
