// Package blend owns LatexBlend multi-concept generation: concept entries, token positions,
// latent textual K/V replacement, blending guidance and self-attention rectification.
package blend
