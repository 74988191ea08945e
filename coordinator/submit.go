package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // instance and regularization images may be JPEG
	_ "image/png"  // or PNG
	"sort"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// UploadsPrefix is where clients put a submission's images in the datasets bucket:
// UploadsPrefix + <upload_id> + "/" + <file>.
const UploadsPrefix = "uploads/"

// errNoObjectStore answers calls that need the object store on a replica without NATS.
var errNoObjectStore = fmt.Errorf("coordinator has no NATS connection (start it with --nats): %w", service.ErrUnavailable)

// submit checks a validated spec against the uploaded objects and the registry and
// creates the job and the name reservation in one etcd transaction. Any error leaves no
// job; the caller deletes the uploads.
func (c *Coordinator) submit(ctx context.Context, spec *pb.ConceptJobSpec) (*pb.Job, error) {
	if c.buckets == nil {
		return nil, errNoObjectStore
	}
	spec = spec.WithDefaults(spec.GetResolution())
	if err := c.resolveBaseModel(ctx, spec); err != nil {
		return nil, err
	}
	store := c.buckets[trainer.BucketDatasets]
	for _, set := range []struct {
		field string
		refs  []*pb.ImageRef
	}{{"spec.instance_images", spec.InstanceImages}, {"spec.regularization_images", spec.RegularizationImages}} {
		for i, ref := range set.refs {
			if err := c.checkImage(ctx, store, ref); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", set.field, i, err)
			}
		}
	}
	now := timestamppb.Now()
	job := &pb.Job{Id: service.NewID(), Spec: spec, Status: &pb.JobStatus{
		State: pb.JobState_JOB_STATE_PENDING, TotalSteps: spec.Steps, Created: now, Updated: now}}
	val, err := trainer.MarshalJob(job)
	if err != nil {
		return nil, err
	}
	name := spec.ConceptName
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.CreateRevision(trainer.JobKey(job.Id)), "=", 0),
		clientv3.Compare(clientv3.CreateRevision(trainer.NameKey(name)), "=", 0),
	}
	if !spec.Replace {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(trainer.ConceptKey(name)), "=", 0))
	}
	tr, err := c.node.Etcd.Txn(ctx).If(cmps...).
		Then(clientv3.OpPut(trainer.JobKey(job.Id), val), clientv3.OpPut(trainer.NameKey(name), job.Id)).
		Else(clientv3.OpGet(trainer.NameKey(name))).Commit()
	if err != nil {
		return nil, fmt.Errorf("create job: %w", err)
	}
	if !tr.Succeeded {
		if kvs := tr.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			return nil, fmt.Errorf("spec.concept_name: %q is already being trained by job %s: %w", name, kvs[0].Value, service.ErrAlreadyExists)
		}
		return nil, fmt.Errorf("spec.concept_name: concept %q already exists in the bank (ask for replace to overwrite it): %w", name, service.ErrAlreadyExists)
	}
	c.log.Info("job submitted", "job", job.Id, "concept", name, "workers", spec.Workers, "steps", spec.Steps)
	return job, nil
}

// checkImage verifies one uploaded image: present, the announced size within the
// limit, the digest, and a PNG or JPEG header that decodes.
func (c *Coordinator) checkImage(ctx context.Context, store jetstream.ObjectStore, ref *pb.ImageRef) error {
	label := ref.Object
	if ref.Filename != "" {
		label += " (" + ref.Filename + ")"
	}
	if ref.SizeBytes > c.cfg.MaxImageBytes {
		return fmt.Errorf("image %s is %d bytes, over the limit of %d: %w", label, ref.SizeBytes, c.cfg.MaxImageBytes, service.ErrInvalidArgument)
	}
	info, err := store.GetInfo(ctx, ref.Object)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("image %s was not uploaded to bucket %q: %w", label, trainer.BucketDatasets, service.ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("image %s: %w", label, err)
	}
	if int64(info.Size) != ref.SizeBytes {
		return fmt.Errorf("image %s is %d bytes in the bucket, the request says %d: %w", label, info.Size, ref.SizeBytes, service.ErrInvalidArgument)
	}
	b, err := store.GetBytes(ctx, ref.Object)
	if err != nil {
		return fmt.Errorf("image %s: %w", label, err)
	}
	if got := trainer.Digest(b); got != ref.Digest {
		return fmt.Errorf("image %s has digest %s, the request says %s: %w", label, got, ref.Digest, service.ErrInvalidArgument)
	}
	if _, format, err := image.DecodeConfig(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("image %s is not a readable PNG or JPEG: %v: %w", label, err, service.ErrInvalidArgument)
	} else if format != "png" && format != "jpeg" {
		return fmt.Errorf("image %s is %s, want PNG or JPEG: %w", label, format, service.ErrInvalidArgument)
	}
	return nil
}

// resolveBaseModel fills an empty spec.base_model_id with the live trainers' identity
// when they agree on one.
func (c *Coordinator) resolveBaseModel(ctx context.Context, spec *pb.ConceptJobSpec) error {
	if spec.BaseModelId != "" {
		return nil
	}
	trainers, err := service.ListMembers(ctx, c.node.Etcd, service.RoleTrainer)
	if err != nil {
		return err
	}
	ids := map[string]bool{}
	for _, t := range trainers {
		ids[t.BaseModelID] = true
	}
	if len(ids) > 1 {
		var list []string
		for id := range ids {
			list = append(list, fmt.Sprintf("%q", id))
		}
		sort.Strings(list)
		return fmt.Errorf("spec.base_model_id: the trainers run %d base models (%s); name one: %w", len(ids), strings.Join(list, ", "), service.ErrInvalidArgument)
	}
	for id := range ids {
		spec.BaseModelId = id
	}
	return nil
}

// deleteUploads removes every object under uploads/<uploadID>/ in the datasets bucket.
func (c *Coordinator) deleteUploads(ctx context.Context, uploadID string) error {
	if c.buckets == nil || pb.CheckID(uploadID) != nil {
		return nil
	}
	return DeleteUploads(ctx, c.buckets[trainer.BucketDatasets], uploadID)
}

// DeleteUploads removes every object under uploads/<uploadID>/ from store.
func DeleteUploads(ctx context.Context, store jetstream.ObjectStore, uploadID string) error {
	objs, err := listObjects(ctx, store)
	if err != nil {
		return fmt.Errorf("list uploads: %w", err)
	}
	prefix := UploadsPrefix + uploadID + "/"
	var errs []error
	for _, o := range objs {
		if strings.HasPrefix(o.Name, prefix) {
			if err := store.Delete(ctx, o.Name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
				errs = append(errs, fmt.Errorf("delete upload %s: %w", o.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
