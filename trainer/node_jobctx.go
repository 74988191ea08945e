package trainer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/latexblend/latexblend/allreduce"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// objectDataset reads a job's images from the datasets bucket.
type objectDataset struct {
	spec  *pb.ConceptJobSpec
	store jetstream.ObjectStore
}

func (d *objectDataset) Instance() []*pb.ImageRef       { return d.spec.GetInstanceImages() }
func (d *objectDataset) Regularization() []*pb.ImageRef { return d.spec.GetRegularizationImages() }

func (d *objectDataset) Fetch(ctx context.Context, ref *pb.ImageRef) ([]byte, error) {
	b, err := d.store.GetBytes(ctx, ref.GetObject())
	if err != nil {
		return nil, fmt.Errorf("image %s (%s): %w", ref.GetObject(), ref.GetFilename(), err)
	}
	if got := Digest(b); got != ref.GetDigest() {
		return nil, fmt.Errorf("image %s (%s): digest %s, want %s", ref.GetObject(), ref.GetFilename(), got, ref.GetDigest())
	}
	return b, nil
}

// ErrSuperseded is returned by a checkpoint save of a generation that is no longer the
// job's current one. It wraps allreduce.ErrGenerationChanged, so the node treats it as
// a broken ring and waits for its next assignment.
var ErrSuperseded = fmt.Errorf("trainer: generation superseded: %w", allreduce.ErrGenerationChanged)

// etcdCheckpoints stores checkpoints in the checkpoints bucket and their metadata under
// CheckpointKey, guarded by the assignment's revision so a stale generation cannot
// overwrite a newer one's checkpoint.
type etcdCheckpoints struct {
	cli       *clientv3.Client
	store     jetstream.ObjectStore
	job       string
	rank      int
	gen       int64
	assignRev int64
}

func (c *etcdCheckpoints) Save(ctx context.Context, step int, data []byte) error {
	if c.rank != 0 {
		return nil
	}
	var prev CheckpointMeta
	hadPrev, _, err := GetJSON(ctx, c.cli, CheckpointKey(c.job), &prev)
	if err != nil {
		return err
	}
	meta := CheckpointMeta{Object: fmt.Sprintf("%s/g%d-s%09d", c.job, c.gen, step), Digest: Digest(data),
		Size: int64(len(data)), Step: step, Generation: c.gen, Created: time.Now().UTC()}
	if _, err := c.store.PutBytes(ctx, meta.Object, data); err != nil {
		return fmt.Errorf("checkpoint %s: %w", meta.Object, err)
	}
	tr, err := c.cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(AssignmentKey(c.job)), "=", c.assignRev)).
		Then(clientv3.OpPut(CheckpointKey(c.job), MustJSON(meta))).Commit()
	if err == nil && !tr.Succeeded {
		err = ErrSuperseded
	}
	if err != nil {
		c.store.Delete(context.WithoutCancel(ctx), meta.Object)
		return fmt.Errorf("checkpoint %s at step %d: %w", c.job, step, err)
	}
	if hadPrev && prev.Object != meta.Object {
		if err := c.store.Delete(ctx, prev.Object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("delete checkpoint %s: %w", prev.Object, err)
		}
	}
	return nil
}

func (c *etcdCheckpoints) Load(ctx context.Context) (int, []byte, error) {
	var meta CheckpointMeta
	found, _, err := GetJSON(ctx, c.cli, CheckpointKey(c.job), &meta)
	if err != nil || !found {
		return 0, nil, err
	}
	b, err := c.store.GetBytes(ctx, meta.Object)
	if err != nil {
		return 0, nil, fmt.Errorf("checkpoint %s (step %d): %w", meta.Object, meta.Step, err)
	}
	if got := Digest(b); got != meta.Digest {
		return 0, nil, fmt.Errorf("checkpoint %s: digest %s, want %s", meta.Object, got, meta.Digest)
	}
	return meta.Step, b, nil
}

// etcdProgress writes rank 0's progress to ProgressKey at most every interval (and
// always for the last step); other ranks' reports are dropped.
type etcdProgress struct {
	ctx      context.Context
	cli      *clientv3.Client
	log      *slog.Logger
	job      string
	gen      int64
	rank     int
	total    int
	interval time.Duration

	mu        sync.Mutex
	avg       float32
	haveAvg   bool
	lastWrite time.Time
	lastStep  int
	rate      float32
}

func (p *etcdProgress) Report(step int, loss float32) {
	if p.rank != 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.haveAvg {
		p.avg, p.haveAvg = loss, true
	} else {
		p.avg = 0.9*p.avg + 0.1*loss
	}
	now := time.Now()
	if p.lastWrite.IsZero() {
		p.lastWrite, p.lastStep = now, step-1
	}
	if now.Sub(p.lastWrite) < p.interval && step < p.total {
		return
	}
	if dt := now.Sub(p.lastWrite).Seconds(); dt > 0 && step > p.lastStep {
		p.rate = float32(float64(step-p.lastStep) / dt)
	}
	p.lastWrite, p.lastStep = now, step
	pr := ProgressRecord{Generation: p.gen, Step: step, TotalSteps: p.total, Loss: loss, LossAvg: p.avg,
		StepsPerSec: p.rate, Updated: now.UTC()}
	if _, err := p.cli.Put(p.ctx, ProgressKey(p.job), MustJSON(pr)); err != nil && p.ctx.Err() == nil {
		p.log.Warn("progress report failed", "err", err)
	}
}
