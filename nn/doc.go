// Package nn is latexblend's thin layer over gorgonia: ops with correct forward and
// backward passes (replacing gorgonia's buggy ones), modules holding parameters under
// diffusers-style dotted names, and the BLAS backend selection.
package nn
