package trainer

import (
	"slices"

	"gorgonia.org/tensor"
)

// scalar reads a one-element tensor.
func scalar(t *tensor.Dense) float64 {
	switch d := t.Data().(type) {
	case float32:
		return float64(d)
	case float64:
		return d
	case []float32:
		return float64(d[0])
	case []float64:
		return d[0]
	}
	return 0
}

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
