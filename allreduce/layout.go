package allreduce

import "sort"

// layout cuts a fused vector of total elements into size chunks (chunk c is
// [c*total/size, (c+1)*total/size), so chunk lengths differ by at most one) and each
// chunk into pieces of at most piece elements (the last piece of a chunk may be short).
// Every rank computes the same layout from (total, size, piece).
type layout struct {
	total, size, piece int
}

func (l layout) chunk(c int) (start, end int) {
	return c * l.total / l.size, (c + 1) * l.total / l.size
}

func (l layout) pieces(c int) int {
	s, e := l.chunk(c)
	return (e - s + l.piece - 1) / l.piece
}

// pieceRange is the element range of piece j of chunk c.
func (l layout) pieceRange(c, j int) (start, end int) {
	s, e := l.chunk(c)
	start = s + j*l.piece
	return start, min(start+l.piece, e)
}

// fused treats several buffers as one vector without copying them.
type fused struct {
	bufs   [][]float32
	starts []int // starts[i] is the fused offset of bufs[i]; starts[len(bufs)] = total
}

func newFused(bufs [][]float32) fused {
	f := fused{bufs: bufs, starts: make([]int, len(bufs)+1)}
	for i, b := range bufs {
		f.starts[i+1] = f.starts[i] + len(b)
	}
	return f
}

func (f fused) total() int { return f.starts[len(f.bufs)] }

// each calls fn for the buffer segments that make up [start, end), in order; off is the
// segment's offset relative to start.
func (f fused) each(start, end int, fn func(seg []float32, off int)) {
	i := sort.Search(len(f.bufs), func(i int) bool { return f.starts[i+1] > start })
	for pos := start; pos < end && i < len(f.bufs); i++ {
		b := f.bufs[i]
		lo := pos - f.starts[i]
		hi := min(len(b), end-f.starts[i])
		if hi > lo {
			fn(b[lo:hi], pos-start)
			pos += hi - lo
		}
	}
}

// contiguous returns [start, end) as one slice of a single buffer, if it is one.
func (f fused) contiguous(start, end int) ([]float32, bool) {
	var out []float32
	n := 0
	f.each(start, end, func(seg []float32, _ int) { out = seg; n++ })
	return out, n == 1
}
