package allreduce

import (
	"runtime"
	"sync"
)

// parallelGrain is the fewest elements worth handing to another goroutine. Converting a
// 1 MiB bfloat16 piece on one core takes about as long as NATS needs to move it, so
// large pieces are encoded and decoded by several cores; a rank on its own machine
// otherwise leaves them idle during the all-reduce.
const parallelGrain = 1 << 16

// parallelRange calls fn on consecutive sub-ranges covering [0, n), concurrently when n
// is large, and returns when all calls have.
func parallelRange(n int, fn func(lo, hi int)) {
	parts := min(runtime.GOMAXPROCS(0), n/parallelGrain)
	if parts <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for p := 1; p < parts; p++ {
		wg.Go(func() { fn(p*n/parts, (p+1)*n/parts) })
	}
	fn(0, n/parts)
	wg.Wait()
}

// encodeParallel and decodeParallel are encode and decodeInto spread over cores.
func encodeParallel(w Wire, dst []byte, v []float32) {
	eb := w.elemBytes()
	parallelRange(len(v), func(lo, hi int) { encode(w, dst[lo*eb:], v[lo:hi]) })
}

func decodeParallel(w Wire, dst []float32, src []byte, accumulate bool) {
	eb := w.elemBytes()
	parallelRange(len(dst), func(lo, hi int) { decodeInto(w, dst[lo:hi], src[lo*eb:], accumulate) })
}
