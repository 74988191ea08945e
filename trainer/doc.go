// Package trainer owns Custom Diffusion fine-tuning with LatexBlend's base flow: the
// training loop, data-parallel gradient averaging over the allreduce ring, checkpoints and
// resume, concept-bank extraction, and the trainer service that executes assigned jobs.
package trainer
