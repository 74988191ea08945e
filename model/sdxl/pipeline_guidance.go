package sdxl

import "fmt"

// applyGuidance combines a guidance-batched noise prediction [2N, …] into [N, …] as
// eps_u + g·(eps_c − eps_u), rounding after each operation to float32 as torch does.
func applyGuidance(pred []float32, scale float64) ([]float32, error) {
	if len(pred)%2 != 0 {
		return nil, fmt.Errorf("sdxl: guidance over an odd number of values (%d)", len(pred))
	}
	half := len(pred) / 2
	uncond, cond := pred[:half], pred[half:]
	g := float32(scale)
	out := make([]float32, half)
	for i, u := range uncond {
		d := cond[i] - u
		out[i] = u + float32(g*d)
	}
	return out, nil
}
