package nn

import (
	"math"
	"testing"
)

func TestExpfMatchesMathExp(t *testing.T) {
	var worst float64
	for i := 0; i <= 400000; i++ {
		x := -100 + 188*float64(i)/400000
		want := math.Exp(x)
		got := expf(x)
		if want < 1e-37 { // below float32's normal range: absolute error is what matters
			if math.Abs(got-want) > 1e-44 {
				t.Fatalf("expf(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		worst = max(worst, math.Abs(got-want)/want)
	}
	if worst > 2e-7 {
		t.Fatalf("expf relative error %.3g, want < 2e-7", worst)
	}
	for _, tc := range []struct{ x, want float64 }{{0, 1}, {89, math.Inf(1)}, {-200, 0}, {math.Inf(-1), 0}, {math.Inf(1), math.Inf(1)}} {
		if got := expf(tc.x); got != tc.want {
			t.Errorf("expf(%v) = %v, want %v", tc.x, got, tc.want)
		}
	}
	if got := expf(math.NaN()); !math.IsNaN(got) {
		t.Errorf("expf(NaN) = %v", got)
	}
}

func TestErffMatchesMathErf(t *testing.T) {
	var worst float64
	for i := 0; i <= 200000; i++ {
		x := -8 + 16*float64(i)/200000
		worst = max(worst, math.Abs(erff(x)-math.Erf(x)))
	}
	if worst > 3e-7 {
		t.Fatalf("erff absolute error %.3g, want < 3e-7", worst)
	}
	if erff(0) != 0 || erff(math.Inf(1)) != 1 || erff(math.Inf(-1)) != -1 {
		t.Fatalf("erff(0, ±Inf) = %v %v %v", erff(0), erff(math.Inf(1)), erff(math.Inf(-1)))
	}
}

func BenchmarkExp(b *testing.B) {
	for _, f := range []struct {
		name string
		fn   func(float64) float64
	}{{"math", math.Exp}, {"expf", expf}} {
		b.Run(f.name, func(b *testing.B) {
			var s float64
			for i := range b.N {
				s += f.fn(float64(i%2000)/100 - 10)
			}
			_ = s
		})
	}
}
