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

// The float32 slice kernels of the activations and softmax must agree with the exact
// float64 definitions to float32 accuracy, including at the clamps and for NaN.
func TestBatchKernelsMatchExact(t *testing.T) {
	var xs []float32
	for i := 0; i <= 20000; i++ {
		xs = append(xs, float32(-30+60*float64(i)/20000))
	}
	xs = append(xs, 0, -0.0, 1e-30, -1e-30, 95, -95, 200, -200, 1e30, -1e30)
	dy := make([]float32, len(xs))
	for i := range dy {
		dy[i] = float32(1 + i%3)
	}
	for _, a := range []activation{silu, quickGELU, geluErf} {
		out := make([]float32, len(xs))
		grad := make([]float32, len(xs))
		a.f32(xs, out)
		a.df32(xs, dy, grad)
		for i, x := range xs {
			want := a.f(exactMath, float64(x))
			wantD := a.df(exactMath, float64(x)) * float64(dy[i])
			if d := math.Abs(float64(out[i]) - want); d > 1e-6*max(1, math.Abs(want)) {
				t.Fatalf("%s(%v) = %v, want %v", a.name, x, out[i], want)
			}
			if d := math.Abs(float64(grad[i]) - wantD); d > 1e-6*max(1, math.Abs(wantD)) {
				t.Fatalf("%s'(%v)·%v = %v, want %v", a.name, x, dy[i], grad[i], wantD)
			}
		}
		nan := []float32{float32(math.NaN())}
		a.f32(nan, out[:1])
		a.df32(nan, dy[:1], grad[:1])
		if !math.IsNaN(float64(out[0])) || !math.IsNaN(float64(grad[0])) {
			t.Errorf("%s(NaN) = %v, gradient %v; want NaN", a.name, out[0], grad[0])
		}
	}
	row := []float32{0, -1, -20, -90, -200, float32(math.Inf(-1)), 3}
	want := make([]float64, len(row))
	var sum float64
	for j, v := range row {
		want[j] = math.Exp(float64(v) - 3)
		sum += want[j]
	}
	got := expShiftSum32(row, 3)
	if math.Abs(got-sum) > 1e-7*sum {
		t.Errorf("expShiftSum32 sum %v, want %v", got, sum)
	}
	for j := range row {
		if d := math.Abs(float64(row[j]) - want[j]); d > 2e-7*want[j]+1e-44 {
			t.Errorf("expShiftSum32[%d] = %v, want %v", j, row[j], want[j])
		}
	}
}
