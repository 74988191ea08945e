// Package model groups the diffusion model stack: safetensors and diffusers-layout IO, the
// CLIP tokenizer and text encoders, the UNet, the VAE, schedulers and the SDXL pipeline.
// Each lives in a sub-package; this package holds what they share.
package model
