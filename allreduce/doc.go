// Package allreduce owns the ring all-reduce over NATS that data-parallel trainers use to
// average gradients: chunked, credit-window flow-controlled, generation-aware and
// failure-aware (a lost peer or missing piece fails the collective on every rank).
package allreduce
