// Package eval measures LatexBlend in the shapes world: for a fixed set of 1-, 2- and
// 3-concept prompts and seeds it generates with the base model alone, with the base
// model told the textures in words (a reference for what the base model itself can
// compose), with LatexBlend (replacement, + blending guidance, + self-attention
// rectification) and with the merged-weights Custom Diffusion baseline, lets the shapes judge (trained on renders
// only) read every image, and reports concept fidelity, prompt fidelity, bleeding and
// seconds per image per method, with an image grid per method.
//
// The eval concepts' deltas and concept-bank entries are committed under entries/ and
// embedded in the binary; Retrain rebuilds them with the trainer.
package eval
