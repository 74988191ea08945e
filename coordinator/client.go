package coordinator

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// FindCoordinator returns the gRPC address of the leader coordinator, or of any live
// coordinator while no leader is elected (every replica answers the API).
func FindCoordinator(ctx context.Context, cli *clientv3.Client) (string, error) {
	members, err := service.ListMembers(ctx, cli, service.RoleCoordinator)
	if err != nil {
		return "", err
	}
	leader, err := Leader(ctx, cli)
	if err != nil {
		return "", err
	}
	addr := ""
	for _, m := range members {
		if m.Address == "" {
			continue
		}
		if m.ID == leader {
			return m.Address, nil
		}
		if addr == "" {
			addr = m.Address
		}
	}
	if addr == "" {
		return "", fmt.Errorf("no coordinator is registered in etcd: %w", service.ErrUnavailable)
	}
	return addr, nil
}

// ImageFile is one image a client submits.
type ImageFile struct {
	// Name is the file's name, kept for error messages.
	Name string
	// Data is the file's bytes (PNG or JPEG).
	Data []byte
	// Caption is the optional caption (regularization images: the prompt).
	Caption string
}

// Submit uploads the images to the datasets bucket under a fresh upload id and submits
// spec with references to them. When the submission fails for any reason, Submit
// deletes the uploads again before returning the error (a gRPC status error when the
// coordinator refused it), so a failed submission leaves nothing behind even when the
// request never reached the coordinator's handler. The coordinator does the same for
// the submissions it refuses, and its janitor removes uploads of clients that died.
func Submit(ctx context.Context, api pb.CoordinatorClient, datasets jetstream.ObjectStore, spec *pb.ConceptJobSpec, instance, reg []ImageFile) (*pb.Job, error) {
	uploadID := service.NewID()
	spec.UploadId = uploadID
	spec.InstanceImages, spec.RegularizationImages = nil, nil
	fail := func(err error) (*pb.Job, error) {
		if derr := DeleteUploads(context.WithoutCancel(ctx), datasets, uploadID); derr != nil {
			return nil, errors.Join(err, fmt.Errorf("also failed to delete the uploads: %w", derr))
		}
		return nil, err
	}
	upload := func(kind string, files []ImageFile) ([]*pb.ImageRef, error) {
		var refs []*pb.ImageRef
		for i, f := range files {
			if len(f.Data) > pb.MaxImageBytes {
				return nil, fmt.Errorf("image %s is %d bytes, over the limit of %d", f.Name, len(f.Data), pb.MaxImageBytes)
			}
			obj := fmt.Sprintf("%s%s/%s-%04d%s", UploadsPrefix, uploadID, kind, i, strings.ToLower(filepath.Ext(f.Name)))
			if _, err := datasets.PutBytes(ctx, obj, f.Data); err != nil {
				return nil, fmt.Errorf("upload %s: %w", f.Name, err)
			}
			refs = append(refs, &pb.ImageRef{Object: obj, Digest: trainer.Digest(f.Data), SizeBytes: int64(len(f.Data)),
				Caption: f.Caption, Filename: filepath.Base(f.Name)})
		}
		return refs, nil
	}
	var err error
	if spec.InstanceImages, err = upload("instance", instance); err == nil {
		spec.RegularizationImages, err = upload("reg", reg)
	}
	if err != nil {
		return fail(err)
	}
	resp, err := api.SubmitConceptJob(ctx, &pb.SubmitConceptJobRequest{Spec: spec})
	if err != nil {
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal:
			// The job may exist even though the answer was lost: keep the uploads; the
			// leader's janitor deletes them later if no job references them.
			return nil, fmt.Errorf("%w (the uploads under %s%s/ are kept in case the job was created)", err, UploadsPrefix, uploadID)
		}
		return fail(err)
	}
	return resp.Job, nil
}

// OpenDatasets connects the object store bucket clients upload images to.
func OpenDatasets(ctx context.Context, js jetstream.JetStream) (jetstream.ObjectStore, error) {
	s, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: trainer.BucketDatasets})
	if err != nil {
		return nil, fmt.Errorf("object store bucket %q: %w", trainer.BucketDatasets, err)
	}
	return s, nil
}
