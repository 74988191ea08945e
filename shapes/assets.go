package shapes

import _ "embed"

// judgeWeights is the committed judge (shapes/assets/judge.safetensors), built into every
// binary so evaluation needs no file next to it.
//
//go:embed assets/judge.safetensors
var judgeWeights []byte

// JudgeWeights returns the bytes of the committed judge weights (a safetensors file
// that package shapes/judge reads).
func JudgeWeights() []byte { return judgeWeights }
