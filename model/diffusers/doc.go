// Package diffusers reads a model stored in the diffusers multi-folder layout:
// model_index.json at the root naming the pipeline's components, and one folder per
// component holding its config (config.json, or scheduler_config.json for schedulers)
// and its weights as safetensors (diffusion_pytorch_model.safetensors for diffusers
// models, model.safetensors for transformers models; ".fp16" variants and sharded
// "*.safetensors.index.json" files are understood).
//
// Configs decode into typed structs whose zero state is the reference library's
// constructor defaults, so absent keys mean what they mean to diffusers and
// transformers; keys this package does not know are kept in Extra rather than
// rejected. Weights are checked against the parameter names and shapes a model
// declares (Check, Load): every missing, unexpected, mis-shaped or non-float tensor is
// reported in one error. Identity digests a folder's configs and weight-file headers so
// nodes can verify they run the same base model.
package diffusers
