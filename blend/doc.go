// Package blend owns LatexBlend multi-concept generation: concept entries, token positions,
// latent textual K/V replacement, blending guidance and self-attention rectification.
//
// Entries (ReadEntry, WriteEntry, ExtractEntry, ReadTorchBank) hold, per SDXL
// cross-attention module, the keys and values of a concept's [modifier, noun] slot.
// FindSlots locates each class noun in a prompt as the reference code does. A Blender,
// built per generation with New, plugs into model/sdxl's pipeline hooks: it writes the
// entries' rows into the conditional K/V once the timestep passes blending_start, copies
// the noun's key onto the modifier slot (the bind trick), optionally runs a guidance
// gradient step on the latents before each early step, and optionally saves attention at
// one step, segments it by spectral clustering and rectifies later cross-attention
// scores. Options.ReferenceCompat reproduces the reference implementation's bugs; the
// default fixes them. See docs/blend.md.
package blend
