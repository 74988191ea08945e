// Package vae is diffusers' AutoencoderKL (the SDXL and SD 1.x VAE) on the nn engine:
// the encoder maps [B, 3, H, W] images in [-1, 1] to a diagonal Gaussian over
// [B, latent_channels, H/f, W/f] latents (f = 2^(len(block_out_channels)-1), 8 for
// SDXL), and the decoder maps latents back to images.
//
// Parameters carry the diffusers checkpoint keys (encoder.conv_in.weight,
// encoder.mid_block.attentions.0.to_q.weight, quant_conv.weight, decoder.…), so a
// vae/diffusion_pytorch_model.safetensors loads by name; files written before diffusers
// renamed the mid-block attention (query/key/value/proj_attn) load too.
//
// The model does not scale latents: the pipeline multiplies encoder samples by
// ScalingFactor and divides latents by it before decoding, as diffusers does. Image
// helpers convert between tensors in [-1, 1] and Go images with diffusers' exact
// float32 arithmetic and rounding.
package vae
