package nn

import (
	"runtime"
	"sync"
)

// minParallelWork is roughly how many element operations a goroutine must get before
// splitting a loop pays for itself.
const minParallelWork = 1 << 15

// parallelFor runs fn over [0, n) split into contiguous ranges, one per available CPU,
// when n items of perItem work each are worth it; otherwise it calls fn(0, n) inline. It
// returns when every range is done, so no goroutine outlives the call.
func parallelFor(n, perItem int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n, max(1, n*max(perItem, 1)/minParallelWork))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
