package trainer

import (
	"context"
	"fmt"
)

// LoopConfig configures Trainer.Train.
type LoopConfig struct {
	// Data are the run's images.
	Data *TrainData
	// Rank selects this rank's random streams (each rank draws its own samples).
	Rank int
	// CheckpointEvery saves a checkpoint every this many steps (0: never) through Save.
	CheckpointEvery int
	Save            func(ctx context.Context, step int, data []byte) error
	// OnStep receives every step's result (losses averaged over the ranks).
	OnStep func(StepResult)
}

// Train runs the remaining steps (from the trainer's step + 1 to the recipe's Steps).
// It returns ctx's error promptly when ctx ends, between steps.
func (t *Trainer) Train(ctx context.Context, cfg LoopConfig) error {
	for t.step < t.recipe.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		d, err := t.DrawStep(cfg.Data, cfg.Rank, t.step+1)
		if err != nil {
			return err
		}
		sr, err := t.TrainStep(ctx, d)
		if err != nil {
			return err
		}
		if cfg.OnStep != nil {
			cfg.OnStep(*sr)
		}
		if cfg.CheckpointEvery > 0 && cfg.Save != nil && t.step%cfg.CheckpointEvery == 0 && t.step < t.recipe.Steps {
			b, err := t.Checkpoint()
			if err != nil {
				return err
			}
			if err := cfg.Save(ctx, t.step, b); err != nil {
				return fmt.Errorf("saving the checkpoint of step %d: %w", t.step, err)
			}
		}
	}
	return nil
}
