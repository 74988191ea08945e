package allreduce

import (
	"math"
	"testing"
)

func TestToBF16RoundsToNearestEven(t *testing.T) {
	f := math.Float32frombits
	tests := []struct {
		name string
		in   float32
		want uint16
	}{
		{"one", 1, 0x3f80},
		{"tie rounds down to even", f(0x3f808000), 0x3f80},
		{"tie rounds up to even", f(0x3f818000), 0x3f82},
		{"above tie rounds up", f(0x3f808001), 0x3f81},
		{"below tie rounds down", f(0x3f807fff), 0x3f80},
		{"negative", -2.5, 0xc020},
		{"zero", 0, 0},
		{"negative zero", float32(math.Copysign(0, -1)), 0x8000},
		{"inf", float32(math.Inf(1)), 0x7f80},
		{"largest float32 overflows to inf", math.MaxFloat32, 0x7f80},
		{"subnormal", f(0x00010000), 0x0001},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := toBF16(tc.in); got != tc.want {
				t.Fatalf("toBF16(%v [%#08x]) = %#04x, want %#04x", tc.in, math.Float32bits(tc.in), got, tc.want)
			}
		})
	}
	nan := toBF16(float32(math.NaN()))
	if x := fromBF16(nan); !math.IsNaN(float64(x)) {
		t.Fatalf("NaN became %v", x)
	}
	if x := fromBF16(toBF16(f(0x7f800001))); !math.IsNaN(float64(x)) {
		t.Fatalf("signalling NaN with low payload became %v", x)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	v := []float32{1, -2.5, 3.25e-3, 1e20, 0.1}
	for _, w := range []Wire{WireF32, WireBF16} {
		// Odd offset: exercises the unaligned fallback paths too.
		for _, off := range []int{0, 1} {
			buf := make([]byte, off+len(v)*w.elemBytes())[off:]
			encode(w, buf, v)
			got := make([]float32, len(v))
			decodeInto(w, got, buf, false)
			for i := range v {
				want := v[i]
				if w == WireBF16 {
					want = fromBF16(toBF16(v[i]))
				}
				if got[i] != want {
					t.Fatalf("wire %s offset %d element %d: got %v, want %v", w, off, i, got[i], want)
				}
			}
			decodeInto(w, got, buf, true)
			for i := range v {
				if got[i] != 2*fromBF16Maybe(w, v[i]) {
					t.Fatalf("wire %s offset %d accumulate element %d: got %v", w, off, i, got[i])
				}
			}
		}
	}
}

func fromBF16Maybe(w Wire, x float32) float32 {
	if w == WireBF16 {
		return fromBF16(toBF16(x))
	}
	return x
}

// BenchmarkBF16Codec: encode one piece and accumulate it, per float32 byte.
func BenchmarkBF16Codec(b *testing.B) {
	v, acc := make([]float32, 1<<18), make([]float32, 1<<18)
	for i := range v {
		v[i] = float32(i) * 0.001
	}
	buf := make([]byte, 2*len(v))
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		encode(WireBF16, buf, v)
		decodeInto(WireBF16, acc, buf, true)
	}
}

func BenchmarkBF16CodecParallel(b *testing.B) {
	v, acc := make([]float32, 1<<19), make([]float32, 1<<19)
	buf := make([]byte, 2*len(v))
	b.SetBytes(int64(4 * len(v)))
	for b.Loop() {
		encodeParallel(WireBF16, buf, v)
		decodeParallel(WireBF16, acc, buf, true)
	}
}

func TestParallelRangeCoversOnce(t *testing.T) {
	for _, n := range []int{0, 1, parallelGrain, 3*parallelGrain + 7, 40 * parallelGrain} {
		hits := make([]int32, n)
		parallelRange(n, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				hits[i]++
			}
		})
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("n=%d: index %d covered %d times", n, i, h)
			}
		}
	}
}
