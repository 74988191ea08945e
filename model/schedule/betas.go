package schedule

import "math"

// betas builds the float32 beta table the way diffusers does: torch.linspace in float32 for
// "linear" and (on the square roots, then squared) for "scaled_linear"; the cosine
// ("squaredcos_cap_v2") table in Python float64, then rounded to float32.
func betas(s settings) []float32 {
	n := s.numTrainTimesteps
	out := make([]float32, n)
	switch {
	case s.trainedBetas != nil:
		for i, b := range s.trainedBetas {
			out[i] = float32(b)
		}
	case s.betaSchedule == "linear":
		copy(out, linspaceFloat32(s.betaStart, s.betaEnd, n))
	case s.betaSchedule == "scaled_linear":
		for i, r := range linspaceFloat32(math.Sqrt(s.betaStart), math.Sqrt(s.betaEnd), n) {
			out[i] = r * r
		}
	case s.betaSchedule == "squaredcos_cap_v2":
		copy(out, cosineBetas(n, 0.999))
	}
	return out
}

// linspaceFloat32 reproduces torch.linspace(start, end, n, dtype=float32) on an x86 CPU
// (torch 1.13, AVX2 kernel): the end points and the step are float32; to keep the end
// exact, values in the second half count back from the end. The kernel fills blocks of
// vecWidth values from a block base computed with a fused multiply-add (the compiler
// contracts start + step*idx there), then adds k*step per lane; the tail that does not fill
// two blocks is computed one value at a time, also fused. Matching this reproduces the
// reference alphas_cumprod bit for bit instead of to within an ulp.
func linspaceFloat32(start, end float64, n int) []float32 {
	const vecWidth = 8
	out := make([]float32, n)
	if n == 1 {
		out[0] = float32(start)
		return out
	}
	a, b := float32(start), float32(end)
	step := float32((b - a) / float32(n-1))
	half := n / 2
	base := func(i int) float32 {
		if i < half {
			return fma32(step, float32(i), a)
		}
		return fma32(-step, float32(n-1-i), b)
	}
	// The vectorised loop consumes two vectors per iteration.
	i := 0
	for ; i+2*vecWidth <= n; i += 2 * vecWidth {
		for j := i; j < i+2*vecWidth; j += vecWidth {
			v := base(j)
			for k := range vecWidth {
				out[j+k] = v + float32(float32(k)*step)
			}
		}
	}
	for ; i < n; i++ {
		out[i] = base(i)
	}
	return out
}

// fma32 is x*y+z for float32 operands: the product is exact in float64, the sum is
// rounded to float64 and then to float32. That double rounding could differ from a true
// single-rounding fused add in rare ties; it does not for the reference schedules.
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

// cosineBetas is the "squaredcos_cap_v2" schedule (betas_for_alpha_bar with the cosine
// alpha-bar of Nichol & Dhariwal), computed in float64 and capped at maxBeta.
func cosineBetas(n int, maxBeta float64) []float32 {
	alphaBar := func(t float64) float64 {
		c := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
		return c * c
	}
	out := make([]float32, n)
	for i := range out {
		t1 := float64(i) / float64(n)
		t2 := float64(i+1) / float64(n)
		out[i] = float32(math.Min(1-alphaBar(t2)/alphaBar(t1), maxBeta))
	}
	return out
}

// alphasCumprod returns prod_{j<=t}(1 - beta_j) as torch.cumprod computes it on the CPU for
// float32: 1-beta rounded to float32, the running product kept in float64 (the CPU
// accumulation type) and each entry rounded to float32.
func alphasCumprod(betas []float32) []float32 {
	out := make([]float32, len(betas))
	acc := 1.0
	for i, b := range betas {
		acc *= float64(float32(1 - b))
		out[i] = float32(acc)
	}
	return out
}
