package blend

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/latexblend/latexblend/internal/goldentest"
)

// samePartition reports the fraction of node pairs on which two labelings agree about
// being in the same cluster (the Rand index), over a sample of pairs.
func randIndex(a, b []int) float64 {
	var agree, total float64
	for i := 0; i < len(a); i++ {
		for j := i + 1; j < len(a); j += 3 {
			if (a[i] == a[j]) == (b[i] == b[j]) {
				agree++
			}
			total++
		}
	}
	return agree / total
}

// blockAffinity builds an asymmetric, noisy affinity over n nodes in k planted groups.
func blockAffinity(rng *rand.Rand, n, k int) ([]float64, []int) {
	truth := make([]int, n)
	for i := range truth {
		truth[i] = rng.IntN(k)
	}
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		var s float64
		for j := 0; j < n; j++ {
			v := 0.02 * rng.Float64()
			if truth[i] == truth[j] {
				v += 1
			}
			a[i*n+j] = v
			s += v
		}
		for j := 0; j < n; j++ { // rows sum to 1, like attention: not symmetric
			a[i*n+j] /= s
		}
	}
	return a, truth
}

func TestSpectralSegmentsPlanted(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{64, 256} {
		a, truth := blockAffinity(rng, n, 5)
		got, err := SpectralSegments(a, n, 5, 10, 7)
		if err != nil {
			t.Fatal(err)
		}
		if ri := randIndex(got, truth); ri != 1 {
			t.Errorf("n=%d: Rand index %.4f, want the planted partition exactly", n, ri)
		}
		again, _ := SpectralSegments(a, n, 5, 10, 7)
		for i := range got {
			if got[i] != again[i] {
				t.Fatalf("n=%d: the clustering is not deterministic for a fixed seed", n)
			}
		}
	}
	if _, err := SpectralSegments(make([]float64, 10), 4, 2, 1, 0); err == nil {
		t.Error("a wrong-sized affinity must fail")
	}
}

// TestSubspaceIterationMatchesExact: the large-grid eigensolver spans the same
// top-k subspace as the exact decomposition.
func TestSubspaceIterationMatchesExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, k = 120, 4
	a, _ := blockAffinity(rng, n, k)
	m := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			m[i*n+j] = (a[i*n+j] + a[j*n+i]) / 2
		}
	}
	exact, err := topEigenvectors(m, n, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	approx, err := subspaceIteration(m, n, k, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Each approximate vector must lie in the exact span: its projection keeps its norm.
	for j := 0; j < k; j++ {
		var norm2, proj2 float64
		for i := 0; i < n; i++ {
			norm2 += approx[i*k+j] * approx[i*k+j]
		}
		for e := 0; e < k; e++ {
			var dot float64
			for i := 0; i < n; i++ {
				dot += approx[i*k+j] * exact[i*k+e]
			}
			proj2 += dot * dot
		}
		if math.Abs(proj2/norm2-1) > 1e-6 {
			t.Errorf("vector %d: %.8f of its norm in the exact subspace", j, proj2/norm2)
		}
	}
}

// TestSpectralGolden clusters the reference's saved 256×256 affinity
// (latexblend_infer_rectification rect.affinity) and compares with sklearn's labels
// (rect.clusters). Labels differ by a permutation and k-means settles in another local
// optimum on this weakly clustered map, so the pair agreement (Rand index) is checked,
// and our labels must score a k-means objective on the embedding no worse than
// sklearn's (sklearn's labels under our embedding test the embedding itself).
func TestSpectralGolden(t *testing.T) {
	ref := goldentest.Case(t, "latexblend_infer_rectification")
	aff32, shape := goldentest.F32(t, ref, "rect.affinity")
	cl, _, err := ref.Int64("rect.clusters")
	if err != nil {
		t.Fatal(err)
	}
	aff := make([]float64, len(aff32))
	for i, v := range aff32 {
		aff[i] = float64(v)
	}
	want := make([]int, len(cl))
	for i, v := range cl {
		want[i] = int(v)
	}
	got, err := SpectralSegments(aff, shape[0], 8, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	ri := randIndex(got, want)
	emb, err := spectralEmbedding(aff, shape[0], 8, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := inertia(emb, shape[0], 8, got), inertia(emb, shape[0], 8, want)
	t.Logf("Rand index against sklearn's clusters: %.4f; k-means inertia ours %.6g, sklearn's %.6g", ri, ours, theirs)
	if ri < 0.9 {
		t.Errorf("Rand index %.4f < 0.9", ri)
	}
	if ours > theirs*1.001 {
		t.Errorf("our clustering's inertia %.6g is worse than sklearn's %.6g", ours, theirs)
	}
}

func TestResize(t *testing.T) {
	src := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	same := resizeBicubicAA(src, 4, 4, 4, 4)
	for i := range src {
		if same[i] != src[i] {
			t.Fatalf("same-size bicubic must be the identity: %v", same)
		}
	}
	// A constant plane stays constant whatever the size (weights are normalised).
	c := make([]float64, 16)
	for i := range c {
		c[i] = 0.25
	}
	for _, v := range resizeBicubicAA(c, 4, 4, 8, 6) {
		if math.Abs(v-0.25) > 1e-12 {
			t.Fatalf("constant plane upsampled to %v", v)
		}
	}
	// Upsampling 2× of a linear ramp along x stays a ramp away from the borders: PIL's
	// filter interpolates linear functions exactly at interior points.
	ramp := make([]float64, 8*8)
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			ramp[y*8+x] = float64(x)
		}
	}
	up := resizeBicubicAA(ramp, 8, 8, 16, 16)
	for x := 4; x < 12; x++ {
		want := (float64(x)+0.5)/2 - 0.5
		if math.Abs(up[5*16+x]-want) > 1e-9 {
			t.Errorf("ramp at x=%d: %.6f, want %.6f", x, up[5*16+x], want)
		}
	}
	nn := resizeNearest([]float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 4, 4, 2, 2)
	if nn[0] != 1 || nn[1] != 3 || nn[2] != 9 || nn[3] != 11 {
		t.Errorf("nearest 4→2: %v, want [1 3 9 11]", nn)
	}
}
