package blend

import (
	"math"
	"math/rand/v2"
)

// kMeans clusters the rows of x [n, d] into k groups: nInit runs of greedy k-means++
// seeding and Lloyd iterations (scikit-learn's KMeans algorithm), keeping the run with
// the lowest inertia. The generator is seeded, so the result is deterministic; it is
// not scikit-learn's random stream.
func kMeans(x []float64, n, d, k, nInit int, seed uint64) []int {
	rng := rand.New(rand.NewPCG(seed, 0x6c617465786c6e64))
	tol := kmeansTol(x, n, d)
	var best []int
	bestInertia := math.Inf(1)
	for run := 0; run < nInit; run++ {
		centers := kmeansPP(x, n, d, k, rng)
		labels, inertia := lloyd(x, n, d, k, centers, tol)
		if inertia < bestInertia {
			best, bestInertia = labels, inertia
		}
	}
	return best
}

// kmeansTol is scikit-learn's tolerance: 1e-4 times the mean per-feature variance.
func kmeansTol(x []float64, n, d int) float64 {
	var total float64
	for j := 0; j < d; j++ {
		var mean, sq float64
		for i := 0; i < n; i++ {
			mean += x[i*d+j]
		}
		mean /= float64(n)
		for i := 0; i < n; i++ {
			v := x[i*d+j] - mean
			sq += v * v
		}
		total += sq / float64(n)
	}
	return 1e-4 * total / float64(d)
}

func sqDist(a, b []float64) float64 {
	var s float64
	for i := range a {
		v := a[i] - b[i]
		s += v * v
	}
	return s
}

// kmeansPP is greedy k-means++: each new center is the best of 2+log(k) candidates
// drawn proportionally to the squared distance to the nearest chosen center.
func kmeansPP(x []float64, n, d, k int, rng *rand.Rand) []float64 {
	centers := make([]float64, 0, k*d)
	first := rng.IntN(n)
	centers = append(centers, x[first*d:(first+1)*d]...)
	closest := make([]float64, n)
	var pot float64
	for i := 0; i < n; i++ {
		closest[i] = sqDist(x[i*d:(i+1)*d], centers[:d])
		pot += closest[i]
	}
	trials := 2 + int(math.Log(float64(k)))
	for c := 1; c < k; c++ {
		bestCand, bestPot := -1, math.Inf(1)
		var bestClosest []float64
		for t := 0; t < trials; t++ {
			r := rng.Float64() * pot
			cand := n - 1
			var acc float64
			for i := 0; i < n; i++ {
				acc += closest[i]
				if acc > r {
					cand = i
					break
				}
			}
			nc := make([]float64, n)
			var np float64
			for i := 0; i < n; i++ {
				nc[i] = math.Min(closest[i], sqDist(x[i*d:(i+1)*d], x[cand*d:(cand+1)*d]))
				np += nc[i]
			}
			if np < bestPot {
				bestCand, bestPot, bestClosest = cand, np, nc
			}
		}
		centers = append(centers, x[bestCand*d:(bestCand+1)*d]...)
		closest, pot = bestClosest, bestPot
	}
	return centers
}

// lloyd iterates assignment and mean updates until the centers move less than tol
// (summed squared shift) or 300 iterations, and returns the labels and inertia.
func lloyd(x []float64, n, d, k int, centers []float64, tol float64) ([]int, float64) {
	labels := make([]int, n)
	assign := func() float64 {
		var inertia float64
		for i := 0; i < n; i++ {
			best, bd := 0, math.Inf(1)
			for c := 0; c < k; c++ {
				if v := sqDist(x[i*d:(i+1)*d], centers[c*d:(c+1)*d]); v < bd {
					best, bd = c, v
				}
			}
			labels[i] = best
			inertia += bd
		}
		return inertia
	}
	for it := 0; it < 300; it++ {
		assign()
		next := make([]float64, k*d)
		counts := make([]int, k)
		for i := 0; i < n; i++ {
			c := labels[i]
			counts[c]++
			for j := 0; j < d; j++ {
				next[c*d+j] += x[i*d+j]
			}
		}
		for c := 0; c < k; c++ {
			if counts[c] == 0 { // an emptied cluster keeps its center
				copy(next[c*d:(c+1)*d], centers[c*d:(c+1)*d])
				continue
			}
			for j := 0; j < d; j++ {
				next[c*d+j] /= float64(counts[c])
			}
		}
		shift := sqDist(next, centers)
		centers = next
		if shift <= tol {
			break
		}
	}
	inertia := assign()
	return append([]int(nil), labels...), inertia
}

// inertia is the k-means objective of labels on x [n, d]: the summed squared distance
// of each row to its cluster's mean.
func inertia(x []float64, n, d int, labels []int) float64 {
	k := 0
	for _, l := range labels {
		k = max(k, l+1)
	}
	cent := make([]float64, k*d)
	cnt := make([]float64, k)
	for i, l := range labels {
		cnt[l]++
		for j := 0; j < d; j++ {
			cent[l*d+j] += x[i*d+j]
		}
	}
	for c := 0; c < k; c++ {
		for j := 0; j < d && cnt[c] > 0; j++ {
			cent[c*d+j] /= cnt[c]
		}
	}
	var s float64
	for i, l := range labels {
		s += sqDist(x[i*d:(i+1)*d], cent[l*d:(l+1)*d])
	}
	return s
}
