// Package sampler owns the Generate service: base-model sampling with LatexBlend concepts,
// the concept cache fed by the shared bank, mixed-concept batching, backpressure, and the
// routing client that picks a sampler node for a request.
package sampler
