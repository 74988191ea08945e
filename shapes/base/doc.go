// Package base trains the shapes world's tiny text-to-image base model from scratch and
// writes it as a diffusers folder that model/sdxl loads like any SDXL checkpoint.
//
// The model keeps SDXL's topology at a toy size: two CLIP text encoders (the second
// with a projection, whose pooled output and the six size ids form the UNet's
// text_time added embedding), a UNet2DConditionModel with a plain first level and a
// cross-attention second level and mid block, and an AutoencoderKL with 4 latent
// channels. Training runs in two phases on rendered shapes-world scenes: the VAE alone
// (reconstruction + a small KL term), then the UNet and both text encoders jointly with
// DDPM's epsilon objective under SDXL's scaled-linear schedule, dropping the text
// conditioning to zeros for a fraction of the samples so that classifier-free guidance
// with the pipeline's zero negative embeddings works.
package base
