package trainer

import (
	"context"
	"log/slog"

	"github.com/latexblend/latexblend/allreduce"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// JobRunner is the work a trainer gang runs for one generation of a job. The trainer
// node calls Run on every rank of the gang once the ring is joined; Run trains (resuming
// from job.Checkpoints when a checkpoint exists), reports progress, checkpoints every
// Spec.CheckpointEvery steps, and on rank 0 returns the final delta and concept entry.
// Other ranks return a nil Result or one without bytes.
//
// Run must return promptly when ctx ends (the job was cancelled or the gang re-formed);
// an error that wraps one of allreduce's failure kinds means the ring broke and the node
// waits for the next generation, any other error fails the job.
type JobRunner interface {
	Run(ctx context.Context, job *JobContext) (*Result, error)
}

// JobRunnerFunc adapts a function to JobRunner.
type JobRunnerFunc func(ctx context.Context, job *JobContext) (*Result, error)

// Run calls f.
func (f JobRunnerFunc) Run(ctx context.Context, job *JobContext) (*Result, error) { return f(ctx, job) }

// JobContext is everything one rank of a gang needs for one generation of a job.
type JobContext struct {
	// JobID is the job's id (a ULID).
	JobID string
	// TrainerID is this trainer's member id.
	TrainerID string
	// Spec is the job's spec with every default filled in.
	Spec *pb.ConceptJobSpec
	// Rank, Size and Generation place this trainer in the gang; Size may be smaller than
	// Spec.Workers after an elastic re-formation with too few free trainers.
	Rank, Size int
	Generation int64
	// Ring is the joined all-reduce ring of this generation (subjects carry the job id
	// and generation). The node closes it after Run returns.
	Ring *allreduce.Ring
	// BaseModelID is the identity of the trainer's base model; entries must carry it.
	BaseModelID string
	// Data reads the job's images from the datasets bucket.
	Data JobImages
	// Checkpoints saves (rank 0 only; a no-op elsewhere) and loads the job's checkpoint.
	Checkpoints CheckpointStore
	// Progress receives per-step progress (kept from rank 0 only).
	Progress ProgressReporter
	// Log is the node's logger, tagged with job, generation and rank.
	Log *slog.Logger
}

// Result is what rank 0 hands back at the end: the final delta
// (latexblend.delta/v1 safetensors) and the concept entry (latexblend.entry/v1).
type Result struct {
	Delta []byte
	Entry []byte
}

// JobImages gives access to the job's uploaded images.
type JobImages interface {
	// Instance and Regularization are the job's image references.
	Instance() []*pb.ImageRef
	Regularization() []*pb.ImageRef
	// Fetch reads one image's bytes and checks them against the reference's digest.
	Fetch(ctx context.Context, ref *pb.ImageRef) ([]byte, error)
}

// CheckpointStore keeps the job's last checkpoint in the checkpoints bucket with its
// metadata in etcd.
type CheckpointStore interface {
	// Save stores data as the checkpoint after step. Only rank 0 stores; other ranks
	// return nil at once (their state is identical).
	Save(ctx context.Context, step int, data []byte) error
	// Load returns the last checkpoint, or step 0 and nil data when there is none.
	Load(ctx context.Context) (step int, data []byte, err error)
}

// ProgressReporter receives progress after each optimizer step.
type ProgressReporter interface {
	Report(step int, loss float32)
}
