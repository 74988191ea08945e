// Package nn is latexblend's thin layer over gorgonia: ops with correct forward and
// backward passes (replacing gorgonia's buggy ones), modules holding parameters under
// diffusers-style dotted names, a Program that compiles one TapeMachine per input shape
// and reruns it, AdamW, and the BLAS backend selection (pure Go by default, OpenBLAS
// with the openblas build tag). docs/nn.md describes the API.
package nn
