package blend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// SpectralSegments is scikit-learn's SpectralClustering(k, affinity="precomputed",
// assign_labels="kmeans") on an n×n affinity (row-major): the affinity is symmetrised
// ((A+Aᵀ)/2, check_symmetric), its diagonal dropped, the normalised Laplacian
// L = I − D^-½ A D^-½ formed, the k eigenvectors of its smallest eigenvalues divided
// by √degree, and their rows clustered by k-means (nInit seeded restarts). Labels are
// 0…k-1 in k-means order.
func SpectralSegments(affinity []float64, n, k, nInit int, seed uint64) ([]int, error) {
	emb, err := spectralEmbedding(affinity, n, k, seed)
	if err != nil {
		return nil, err
	}
	return kMeans(emb, n, k, k, nInit, seed), nil
}

// spectralEmbedding returns the [n, k] rows k-means clusters.
func spectralEmbedding(affinity []float64, n, k int, seed uint64) ([]float64, error) {
	if len(affinity) != n*n || n < 1 {
		return nil, fmt.Errorf("blend: spectral clustering: affinity has %d values, want %d×%d", len(affinity), n, n)
	}
	if k < 1 || k > n {
		return nil, fmt.Errorf("blend: spectral clustering: %d segments for %d nodes", k, n)
	}
	m := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if i != j {
				m[i*n+j] = (affinity[i*n+j] + affinity[j*n+i]) / 2
			}
		}
	}
	dd := make([]float64, n)
	for j := 0; j < n; j++ {
		var s float64
		for i := 0; i < n; i++ {
			s += m[i*n+j]
		}
		if s == 0 { // isolated node, as scipy's laplacian treats it
			dd[j] = 1
		} else {
			dd[j] = math.Sqrt(s)
		}
	}
	// M = D^-½ A D^-½ has the eigenvectors of L with eigenvalues 1 − λ_L, so L's
	// smallest are M's largest.
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			m[i*n+j] /= dd[i] * dd[j]
		}
	}
	vecs, err := topEigenvectors(m, n, k, seed)
	if err != nil {
		return nil, err
	}
	emb := make([]float64, n*k)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			emb[i*k+j] = vecs[i*k+j] / dd[i]
		}
	}
	return emb, nil
}

// exactEigenLimit is the size up to which the full symmetric eigendecomposition is
// used; larger affinities (64×64 = 4096 nodes at 1024²) use subspace iteration.
const exactEigenLimit = 1536

// topEigenvectors returns the eigenvectors [n, k] (row-major) of the k largest
// eigenvalues of the symmetric matrix m.
func topEigenvectors(m []float64, n, k int, seed uint64) ([]float64, error) {
	if n <= exactEigenLimit {
		var es mat.EigenSym
		if !es.Factorize(mat.NewSymDense(n, m), true) {
			return nil, fmt.Errorf("blend: spectral clustering: the eigendecomposition of the %d×%d Laplacian failed", n, n)
		}
		vals := es.Values(nil)
		var v mat.Dense
		es.VectorsTo(&v)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] > vals[idx[b]] })
		out := make([]float64, n*k)
		for i := 0; i < n; i++ {
			for j := 0; j < k; j++ {
				out[i*k+j] = v.At(i, idx[j])
			}
		}
		return out, nil
	}
	return subspaceIteration(m, n, k, seed)
}

// subspaceIteration finds the top-k eigenvectors of symmetric m (eigenvalues in
// [−1, 1]) by block power iteration on (m+I)/2 with 2k vectors, orthonormalised each
// round, and a Rayleigh–Ritz projection at the end.
func subspaceIteration(m []float64, n, k int, seed uint64) ([]float64, error) {
	p := min(2*k+4, n)
	a := mat.NewDense(n, n, m)
	shifted := mat.NewDense(n, n, nil)
	shifted.Scale(0.5, a)
	for i := 0; i < n; i++ {
		shifted.Set(i, i, shifted.At(i, i)+0.5)
	}
	rng := rand.New(rand.NewPCG(seed, 0x737065637472616c))
	q := mat.NewDense(n, p, nil)
	for i := 0; i < n; i++ {
		for j := 0; j < p; j++ {
			q.Set(i, j, rng.NormFloat64())
		}
	}
	orth := func(x *mat.Dense) *mat.Dense {
		var qr mat.QR
		qr.Factorize(x)
		var out mat.Dense
		qr.QTo(&out)
		return mat.DenseCopyOf(out.Slice(0, n, 0, p))
	}
	q = orth(q)
	prev := make([]float64, k)
	var y mat.Dense
	for it := 0; it < 1000; it++ {
		y.Mul(shifted, q)
		q = orth(&y)
		if it%10 != 9 {
			continue
		}
		vals, _ := ritz(shifted, q, p)
		var change float64
		for j := 0; j < k; j++ {
			change = math.Max(change, math.Abs(vals[j]-prev[j]))
			prev[j] = vals[j]
		}
		if change < 1e-10 {
			break
		}
	}
	_, vecs := ritz(shifted, q, p)
	out := make([]float64, n*k)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			out[i*k+j] = vecs.At(i, j)
		}
	}
	return out, nil
}

// ritz returns the Ritz values (descending) and vectors of a on the span of q.
func ritz(a *mat.Dense, q *mat.Dense, p int) ([]float64, *mat.Dense) {
	var aq, small mat.Dense
	aq.Mul(a, q)
	small.Mul(q.T(), &aq)
	sym := mat.NewSymDense(p, nil)
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			sym.SetSym(i, j, (small.At(i, j)+small.At(j, i))/2)
		}
	}
	var es mat.EigenSym
	es.Factorize(sym, true)
	vals := es.Values(nil)
	var v mat.Dense
	es.VectorsTo(&v)
	idx := make([]int, p)
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(x, y int) bool { return vals[idx[x]] > vals[idx[y]] })
	sorted := make([]float64, p)
	perm := mat.NewDense(p, p, nil)
	for j, i := range idx {
		sorted[j] = vals[i]
		perm.Set(i, j, 1)
	}
	var vs, out mat.Dense
	vs.Mul(&v, perm)
	out.Mul(q, &vs)
	return sorted, &out
}
