package safetensors

import (
	"math"
	"testing"
)

// TestF16Exhaustive: every binary16 value widens to the float32 that narrows back to it,
// and widening matches the value computed from the definition.
func TestF16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := f16ToF32(uint16(h))
		exp, mant := (h>>10)&0x1f, h&0x3ff
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		var want float64
		switch {
		case exp == 0x1f && mant == 0:
			want = math.Inf(int(sign))
		case exp == 0x1f:
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: %v, want NaN", h, f)
			}
			if back := f32ToF16(f); back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("%#04x: NaN narrows to %#04x, not a NaN", h, back)
			}
			continue
		case exp == 0:
			want = sign * float64(mant) * math.Pow(2, -24)
		default:
			want = sign * (1 + float64(mant)/1024) * math.Pow(2, float64(exp-15))
		}
		if float64(f) != want || math.Signbit(float64(f)) != (sign < 0) {
			t.Fatalf("%#04x widens to %v, want %v", h, f, want)
		}
		if back := f32ToF16(f); back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestF16Rounding(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},                        // tie, even stays
		{1 + 3.0/2048, 0x3c02},                        // tie, odd rounds up
		{1 + 1.0/2048 + 1.0/65536, 0x3c01},            // just above the tie
		{65504, 0x7bff},                               // max finite
		{65520, 0x7c00},                               // rounds to Inf
		{65519, 0x7bff},                               // below the overflow threshold
		{1e10, 0x7c00},                                // overflow
		{-1e10, 0xfc00},                               // negative overflow
		{float32(math.Pow(2, -24)), 0x0001},           // smallest subnormal
		{float32(math.Pow(2, -25)), 0x0000},           // half of it: tie to even (0)
		{float32(math.Pow(2, -25) * 1.5), 0x0001},     // above the tie
		{float32(math.Pow(2, -24) * 1.5), 0x0002},     // tie between 1 and 2: even
		{float32(math.Pow(2, -14) * 0.99999), 0x0400}, // rounds up into the normal range
		{1e-30, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
	} {
		if got := f32ToF16(tc.in); got != tc.want {
			t.Errorf("f32ToF16(%g) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestBF16(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := bf16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(bf16ToF32(f32ToBF16(f)))) {
				t.Fatalf("%#04x: NaN does not stay NaN", h)
			}
			continue
		}
		if back := f32ToBF16(f); back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
	for _, tc := range []struct {
		in   uint32
		want uint16
	}{
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above the tie
		{0x7f7fffff, 0x7f80}, // max float32 rounds to Inf
		{0x7f800001, 0x7fc0}, // signalling NaN stays NaN (quieted)
	} {
		if got := f32ToBF16(math.Float32frombits(tc.in)); got != tc.want {
			t.Errorf("f32ToBF16(%#08x) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}
