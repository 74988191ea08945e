package vae

import (
	"math/rand"
	"os"
	"strconv"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// peakRSSMB reads the process's peak resident set (VmHWM) on Linux, 0 elsewhere.
func peakRSSMB() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// benchSDXL times one SDXL-sized VAE pass (random weights) at the image side given by
// $VAE_BENCH_SIDE (default 256 px; 1024 is the real SDXL size and needs many GB).
func benchSDXL(b *testing.B, encode bool) {
	side := 256
	if s, err := strconv.Atoi(os.Getenv("VAE_BENCH_SIDE")); err == nil && s > 0 {
		side = s
	}
	m, err := New(sdxlConfig(), tensor.Float32)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	m.Params.Randomize(rand.New(rand.NewSource(1)), 0.02)
	rng := rand.New(rand.NewSource(2))
	var in *tensor.Dense
	if encode {
		in = randTensor(rng, tensor.Float32, 1, 3, side, side)
	} else {
		in = randTensor(rng, tensor.Float32, 1, 4, side/8, side/8)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if encode {
			_, err = m.Encode(in)
		} else {
			_, err = m.Decode(in)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
	b.ReportMetric(float64(side), "px")
}

func BenchmarkSDXLEncode(b *testing.B) { benchSDXL(b, true) }
func BenchmarkSDXLDecode(b *testing.B) { benchSDXL(b, false) }
