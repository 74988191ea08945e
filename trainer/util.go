package trainer

import (
	"slices"

	"gorgonia.org/tensor"
)

// weightedSum is Σ w·(pred-target)².
func weightedSum(w *tensor.Dense, pred, target []float32) float64 {
	var s float64
	for i, wi := range w.Data().([]float32) {
		d := float64(pred[i] - target[i])
		s += float64(wi) * d * d
	}
	return s
}

func sortedInts(v []int) []int {
	out := slices.Clone(v)
	slices.Sort(out)
	return out
}
