// Package shapes is latexblend's synthetic "shapes world": a deterministic renderer of
// small images of plain-coloured shapes with CLIP-style captions, concept sets (textured
// instances of a class that the base data never shows), regularisation sets of bare
// classes, and a BPE tokenizer built from the world's vocabulary.
//
// Everything is integer arithmetic driven by the package's own PRNG, so the same seed
// gives byte-identical images on every machine and Go version: scene geometry lives on
// a fixed grid of SceneUnits per image side, each pixel is the mean of 4×4 supersamples,
// and colours are mixed with integer rounding.
package shapes
