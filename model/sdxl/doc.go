// Package sdxl holds Stable Diffusion XL's pipeline-level pieces built on the model
// packages: prompt encoding with the two CLIP text encoders (diffusers'
// StableDiffusionXLPipeline.encode_prompt, v0.21.4) and, in other files, the pipeline.
package sdxl
