// Package unet is diffusers' UNet2DConditionModel (SDXL and SD 1.x) on the nn engine.
//
// A Model is built from a diffusers unet/config.json. Its parameters carry diffusers'
// state-dict keys exactly, and Specs lists their names and shapes from the config alone,
// without allocating anything (the SDXL base UNet has 1,680 tensors, 2,567,463,684
// values). The same module code serves inference, training and guidance: it builds an
// nn graph (Build) that a per-shape nn.Program compiles once and reruns. Forward is the
// inference entry point with a cache of programs keyed by the graph's structure.
//
// Attention layers are addressable by their diffusers module paths
// ("down_blocks.1.attentions.0.transformer_blocks.0.attn2"). A Processor passed with
// each forward call (never stored in the model) can read or replace keys and values,
// rewrite pre-softmax scores and read post-softmax probabilities of any of them; see
// Hooks and Edits.
package unet
