// Package allreduce owns the ring all-reduce over NATS that data-parallel trainers use to
// average gradients: chunked, credit-window flow-controlled, generation-aware and
// failure-aware (a lost peer or missing piece fails the collective on every rank).
//
// # Use
//
//	ring, err := allreduce.Join(ctx, nc, allreduce.Config{Job: "sdxl-cd", Generation: gen, Rank: r, Size: n})
//	defer ring.Close()
//	err = ring.AllReduce(ctx, allreduce.Mean, gradA, gradB, gradC) // one fused vector, in place
//
// Join subscribes and waits until every rank of the generation has subscribed (hello
// messages on the control subject), so no piece is published before its receiver
// listens. Every rank must then issue the same sequence of AllReduce calls with equally
// long fused vectors.
//
// # Algorithm
//
// The fused vector is cut into Size chunks (lengths differ by at most one element) and
// every chunk into pieces of at most Config.PieceBytes (default 1 MiB, lowered to the
// server's max_payload read from the connection). Reduce-scatter then all-gather:
// 2(Size-1) steps; at step s rank r sends chunk (r-s) mod Size to rank r+1 and receives
// chunk (r-s-1) mod Size from rank r-1, adding it during the reduce-scatter and
// overwriting with it during the all-gather. Piece j of step s may leave as soon as piece
// j of step s-1 has arrived, so steps overlap (pipelining). Each rank owns one chunk at
// the end of the reduce-scatter; it applies Mean's division (and bf16 rounding) there,
// once, so all ranks end with bitwise identical values.
//
// Flow control: the receiver acknowledges the number of pieces it has consumed
// (cumulative acks to its predecessor); a sender never has more than
// Config.WindowBytes (default 8 MiB) unacknowledged. Every subscriber's backlog is
// therefore bounded by one window, far below NATS's slow-consumer limits (64 MiB per
// connection), however large the vector.
//
// Subjects carry job, generation, operation number and receiving rank (see
// subjects.go); step, piece and vector length are in the subject too, so float32 pieces
// are published straight from the caller's buffer.
//
// # Failures
//
// Any failure fails the operation on every surviving rank, as an *OpError whose Kind is
// ErrPeerLost, ErrTimeout, ErrGenerationChanged, ErrMismatch, ErrTransport, ErrClosed or
// ErrCanceled (use errors.Is):
//
//   - no piece or ack within Config.Timeout (a crashed rank, a lost message): the rank
//     that notices returns ErrTimeout and broadcasts an abort, so the others fail at
//     once instead of waiting out their own timeout;
//   - a rank that calls Close announces it ("leave"): the others fail with ErrPeerLost;
//   - a message or hello of a newer generation of the same job: ErrGenerationChanged.
//     Messages of older generations and of finished operations are dropped.
//
// A failed operation leaves the buffers partially reduced; it is never reported as a
// success. The Ring stays broken: later calls return the same error; Close it and Join
// the next generation.
//
// # bfloat16 wire
//
// With Config.Wire = WireBF16 pieces travel as bfloat16 (round to nearest even, half
// the bytes); received values are accumulated in float32. An element is rounded to
// bf16 once per reduce-scatter hop and once before the all-gather (Size roundings of
// unit roundoff 2^-8) and sees Size-1 float32 additions, so for every element
//
//	|result - exact sum| <= BF16ErrorBound(Size) * sum over ranks |x_r|,
//	BF16ErrorBound(n) = n*(2^-8 + 2^-24)*(1 + n*2^-8)  (≈ 0.0159 at n = 4, 0.032 at n = 8)
//
// (for Mean divide the right-hand side by Size). With the float32 wire the bound is
// Size*2^-24*sum|x_r|.
package allreduce
