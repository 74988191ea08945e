// Package schedule implements the diffusion noise schedulers of diffusers v0.21.4 that the
// SDXL stack needs: EulerDiscrete (the SDXL default), DDIM and DDPM. A scheduler is built
// from a diffusers `scheduler/scheduler_config.json`; its timesteps match the reference
// exactly and its tables and steps match it to float32 rounding, because the tables are
// built with the same dtypes as the reference (betas and alphas_cumprod in float32 torch,
// interpolation in float64 numpy, then float32) and every element-wise update rounds to
// float32 after each operation, as torch does.
//
// Tensors are flat []float32 slices. A scheduler applies one timestep to the whole slice,
// so a batch is handled by the caller: Step and ScaleModelInput take any number of samples
// concatenated; AddNoise takes per-sample timesteps and the length of one sample.
//
// A Scheduler is mutated only by SetTimesteps. After that, Step, ScaleModelInput and
// AddNoise only read it and may be called concurrently; concurrent requests that need
// different step counts each build their own scheduler (cheap: a few 1000-entry tables).
package schedule
