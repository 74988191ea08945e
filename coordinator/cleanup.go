package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/trainer"
)

// releaseClaims deletes every trainer claim that still points at job id (a claim that
// moved on to another job is left alone).
func releaseClaims(ctx context.Context, cli *clientv3.Client, id string) error {
	resp, err := cli.Get(ctx, trainer.ClaimsPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("read claims: %w", err)
	}
	for _, kv := range resp.Kvs {
		if string(kv.Value) != id {
			continue
		}
		k := string(kv.Key)
		if _, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", id)).Then(clientv3.OpDelete(k)).Commit(); err != nil {
			return fmt.Errorf("release claim %s: %w", k, err)
		}
	}
	return nil
}

// cleanupJob tidies after an ended job: frees its trainers, drops its assignment,
// reform request, name reservation and checkpoint (record and objects). The final delta
// stays in the deltas bucket and the images in datasets until the job is deleted.
// Idempotent.
func (c *Coordinator) cleanupJob(ctx context.Context, j *pb.Job) error {
	cli := c.node.Etcd
	if err := releaseClaims(ctx, cli, j.Id); err != nil {
		return err
	}
	name := trainer.NameKey(j.Spec.GetConceptName())
	if _, err := cli.Txn(ctx).Then(clientv3.OpDelete(trainer.AssignmentKey(j.Id)), clientv3.OpDelete(trainer.ReformKey(j.Id)),
		clientv3.OpDelete(trainer.CheckpointKey(j.Id))).Commit(); err != nil {
		return fmt.Errorf("job %s: cleanup: %w", j.Id, err)
	}
	if _, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(name), "=", j.Id)).Then(clientv3.OpDelete(name)).Commit(); err != nil {
		return fmt.Errorf("job %s: release name: %w", j.Id, err)
	}
	if c.buckets == nil {
		return nil
	}
	return deleteObjectsWithPrefix(ctx, c.buckets[trainer.BucketCheckpoints], j.Id+"/", time.Time{})
}

// deleteObjectsWithPrefix deletes the objects of store whose names start with prefix
// and, when before is set, were last modified before it.
func deleteObjectsWithPrefix(ctx context.Context, store jetstream.ObjectStore, prefix string, before time.Time) error {
	objs, err := listObjects(ctx, store)
	if err != nil {
		return fmt.Errorf("list objects: %w", err)
	}
	var errs []error
	for _, o := range objs {
		if !strings.HasPrefix(o.Name, prefix) || (!before.IsZero() && !o.ModTime.Before(before)) {
			continue
		}
		if err := store.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			errs = append(errs, fmt.Errorf("delete %s: %w", o.Name, err))
		}
	}
	return errors.Join(errs...)
}

// sweepUploads deletes uploads that no job references and that are older than
// UploadGrace: what a client left behind when it died between uploading and
// submitting, or when its submission was refused before reaching the coordinator.
func (c *Coordinator) sweepUploads(ctx context.Context) error {
	if c.buckets == nil {
		return nil
	}
	store := c.buckets[trainer.BucketDatasets]
	objs, err := listObjects(ctx, store)
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	jobs, err := listJobs(ctx, c.node.Etcd)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, j := range jobs {
		used[j.Spec.GetUploadId()] = true
	}
	cutoff := time.Now().Add(-c.cfg.UploadGrace)
	for _, o := range objs {
		rest, ok := strings.CutPrefix(o.Name, UploadsPrefix)
		uid, _, _ := strings.Cut(rest, "/")
		if !ok || used[uid] || !o.ModTime.Before(cutoff) {
			continue
		}
		if err := store.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("delete orphaned upload %s: %w", o.Name, err)
		}
		c.log.Info("deleted orphaned upload", "object", o.Name, "age", time.Since(o.ModTime).Round(time.Second))
	}
	return c.sweepEntries(ctx, cutoff)
}

// sweepEntries deletes entry objects no concept record points at, older than cutoff:
// what a rank 0 left behind when it died between storing its entry and registering it.
func (c *Coordinator) sweepEntries(ctx context.Context, cutoff time.Time) error {
	store := c.buckets[trainer.BucketConcepts]
	objs, err := listObjects(ctx, store)
	if err != nil {
		return fmt.Errorf("list entries: %w", err)
	}
	resp, err := c.node.Etcd.Get(ctx, trainer.ConceptsPrefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("read concept registry: %w", err)
	}
	used := map[string]bool{}
	for _, kv := range resp.Kvs {
		var r trainer.ConceptRecord
		if json.Unmarshal(kv.Value, &r) == nil {
			used[r.Object] = true
		}
	}
	for _, o := range objs {
		if used[o.Name] || !o.ModTime.Before(cutoff) {
			continue
		}
		if err := store.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("delete orphaned entry %s: %w", o.Name, err)
		}
		c.log.Info("deleted orphaned entry", "object", o.Name)
	}
	return nil
}
