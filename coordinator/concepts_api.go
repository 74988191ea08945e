package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// ConceptToProto converts a registry record to its API form.
func ConceptToProto(r trainer.ConceptRecord) *pb.Concept {
	return &pb.Concept{Name: r.Name, Digest: r.Digest, SizeBytes: r.Size, ClassNoun: r.ClassNoun,
		ModifierToken: r.ModifierToken, NTok: int32(r.NTok), BaseModelId: r.BaseModelID, JobId: r.JobID,
		Created: timestamppb.New(r.Created), RecipeJson: r.Recipe, Places: int32(max(r.Places, 1))}
}

func getConcept(ctx context.Context, cli *clientv3.Client, name string) (trainer.ConceptRecord, int64, error) {
	var r trainer.ConceptRecord
	found, rev, err := trainer.GetJSON(ctx, cli, trainer.ConceptKey(name), &r)
	if err != nil {
		return r, 0, err
	}
	if !found {
		return r, 0, fmt.Errorf("concept %q is not in the bank: %w", name, service.ErrNotFound)
	}
	return r, rev, nil
}

func (a *api) ListConcepts(ctx context.Context, req *pb.ListConceptsRequest) (*pb.ListConceptsResponse, error) {
	opts := []clientv3.OpOption{clientv3.WithRange(clientv3.GetPrefixRangeEnd(trainer.ConceptsPrefix))}
	start := trainer.ConceptsPrefix
	if req.PageToken != "" {
		start = trainer.ConceptKey(req.PageToken) + "\x00"
	}
	resp, err := a.c.node.Etcd.Get(ctx, start, opts...)
	if err != nil {
		return nil, service.ToStatus(fmt.Errorf("list concepts: %w", err))
	}
	size := int(req.PageSize)
	if size == 0 {
		size = pb.DefaultPageSize
	}
	out := &pb.ListConceptsResponse{}
	for _, kv := range resp.Kvs {
		var r trainer.ConceptRecord
		if json.Unmarshal(kv.Value, &r) != nil {
			continue
		}
		if (req.ClassNoun != "" && r.ClassNoun != req.ClassNoun) || (req.BaseModelId != "" && r.BaseModelID != req.BaseModelId) {
			continue
		}
		if len(out.Concepts) == size {
			out.NextPageToken = out.Concepts[size-1].Name
			break
		}
		out.Concepts = append(out.Concepts, ConceptToProto(r))
	}
	return out, nil
}

func (a *api) GetConcept(ctx context.Context, req *pb.GetConceptRequest) (*pb.GetConceptResponse, error) {
	r, _, err := getConcept(ctx, a.c.node.Etcd, req.Name)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	return &pb.GetConceptResponse{Concept: ConceptToProto(r)}, nil
}

func (a *api) DownloadConcept(req *pb.DownloadConceptRequest, stream pb.Coordinator_DownloadConceptServer) error {
	ctx := stream.Context()
	if a.c.buckets == nil {
		return service.ToStatus(errNoObjectStore)
	}
	r, _, err := getConcept(ctx, a.c.node.Etcd, req.Name)
	if err != nil {
		return service.ToStatus(err)
	}
	if req.Digest != "" && req.Digest != r.Digest {
		return service.ToStatus(fmt.Errorf("concept %q is now %s, not %s (it was replaced): %w", r.Name, r.Digest, req.Digest, service.ErrFailed))
	}
	b, err := a.c.buckets[trainer.BucketConcepts].GetBytes(ctx, r.Object)
	if err != nil {
		return service.ToStatus(fmt.Errorf("concept %q: entry object %s: %w", r.Name, r.Object, err))
	}
	if got := trainer.Digest(b); got != r.Digest {
		return service.ToStatus(fmt.Errorf("concept %q: stored entry has digest %s, the registry says %s", r.Name, got, r.Digest))
	}
	if err := stream.Send(&pb.DownloadConceptResponse{Payload: &pb.DownloadConceptResponse_Concept{Concept: ConceptToProto(r)}}); err != nil {
		return err
	}
	for off := 0; ; off += pb.ChunkBytes {
		end := min(off+pb.ChunkBytes, len(b))
		last := end == len(b)
		chunk := &pb.DataChunk{Offset: int64(off), Data: b[off:end], Last: last}
		if err := stream.Send(&pb.DownloadConceptResponse{Payload: &pb.DownloadConceptResponse_Chunk{Chunk: chunk}}); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

func (a *api) ImportConcept(stream pb.Coordinator_ImportConceptServer) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if err != nil {
		return service.ToStatus(err)
	}
	h := first.GetHeader()
	if h == nil {
		return service.ToStatus(fmt.Errorf("payload: the first message must be the header: %w", service.ErrInvalidArgument))
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return service.ToStatus(fmt.Errorf("stream ended after %d bytes without a last chunk: %w", buf.Len(), service.ErrInvalidArgument))
		}
		if err != nil {
			return service.ToStatus(err)
		}
		ch := m.GetChunk()
		if ch == nil {
			return service.ToStatus(fmt.Errorf("payload: only the first message may be a header: %w", service.ErrInvalidArgument))
		}
		if ch.Offset != int64(buf.Len()) {
			return service.ToStatus(fmt.Errorf("chunk.offset: got %d, want %d: %w", ch.Offset, buf.Len(), service.ErrInvalidArgument))
		}
		if int64(buf.Len()+len(ch.Data)) > h.SizeBytes {
			return service.ToStatus(fmt.Errorf("chunk: more than the announced %d bytes: %w", h.SizeBytes, service.ErrInvalidArgument))
		}
		buf.Write(ch.Data)
		if ch.Last {
			break
		}
	}
	if int64(buf.Len()) != h.SizeBytes {
		return service.ToStatus(fmt.Errorf("header.size_bytes: announced %d, received %d: %w", h.SizeBytes, buf.Len(), service.ErrInvalidArgument))
	}
	rec, err := a.c.importEntry(ctx, h, buf.Bytes())
	if err != nil {
		return service.ToStatus(err)
	}
	return stream.SendAndClose(&pb.ImportConceptResponse{Concept: ConceptToProto(rec)})
}

// importEntry validates an offline entry against the cluster's base model identities,
// stores it and registers it (refusing a taken name unless h.replace, and a name a job
// is training).
func (c *Coordinator) importEntry(ctx context.Context, h *pb.ImportConceptHeader, b []byte) (trainer.ConceptRecord, error) {
	var rec trainer.ConceptRecord
	if c.buckets == nil {
		return rec, errNoObjectStore
	}
	digest := trainer.Digest(b)
	if h.Digest != "" && h.Digest != digest {
		return rec, fmt.Errorf("header.digest: the received bytes have digest %s, the header says %s: %w", digest, h.Digest, service.ErrInvalidArgument)
	}
	info, err := trainer.ParseEntry(b)
	if err != nil {
		return rec, fmt.Errorf("%w: %w", err, service.ErrInvalidArgument)
	}
	if err := pb.CheckClassNoun(info.ClassNoun); err != nil {
		return rec, fmt.Errorf("concept entry: class noun: %w: %w", err, service.ErrInvalidArgument)
	}
	if err := pb.CheckToken(info.ModifierToken); err != nil {
		return rec, fmt.Errorf("concept entry: modifier token: %w: %w", err, service.ErrInvalidArgument)
	}
	known, err := c.clusterBaseModels(ctx)
	if err != nil {
		return rec, err
	}
	if len(known) == 0 {
		return rec, fmt.Errorf("the cluster has no base model identity to check the entry against (no trainer or sampler with a model is running): %w", service.ErrFailed)
	}
	if !known[info.BaseModelID] {
		var ids []string
		for id := range known {
			ids = append(ids, id)
		}
		return rec, fmt.Errorf("entry is for base model %s, the cluster runs %s: %w", info.BaseModelID, strings.Join(ids, ", "), service.ErrFailed)
	}
	rec = trainer.ConceptRecord{Name: h.Name, Object: h.Name + "/" + strings.TrimPrefix(digest, "sha256:"), Digest: digest,
		Size: int64(len(b)), ClassNoun: info.ClassNoun, ModifierToken: info.ModifierToken, NTok: info.NTok,
		BaseModelID: info.BaseModelID, Recipe: info.Recipe, Created: time.Now().UTC(), Places: info.Places}
	store := c.buckets[trainer.BucketConcepts]
	old, oldRev, err := getConcept(ctx, c.node.Etcd, h.Name)
	if err != nil && !errors.Is(err, service.ErrNotFound) {
		return rec, err
	}
	if oldRev != 0 && !h.Replace {
		return rec, fmt.Errorf("header.name: concept %q already exists (ask for replace to overwrite it): %w", h.Name, service.ErrAlreadyExists)
	}
	if _, err := store.PutBytes(ctx, rec.Object, b); err != nil {
		return rec, fmt.Errorf("store entry %s: %w", rec.Object, err)
	}
	name := trainer.NameKey(h.Name)
	tr, err := c.node.Etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(trainer.ConceptKey(h.Name)), "=", oldRev),
		clientv3.Compare(clientv3.CreateRevision(name), "=", 0)).
		Then(clientv3.OpPut(trainer.ConceptKey(h.Name), trainer.MustJSON(rec))).Else(clientv3.OpGet(name)).Commit()
	if err != nil || !tr.Succeeded {
		if oldRev == 0 || old.Object != rec.Object {
			store.Delete(context.WithoutCancel(ctx), rec.Object)
		}
		if err != nil {
			return rec, fmt.Errorf("register concept %q: %w", h.Name, err)
		}
		if kvs := tr.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
			return rec, fmt.Errorf("header.name: job %s is training concept %q: %w", kvs[0].Value, h.Name, service.ErrAlreadyExists)
		}
		return rec, fmt.Errorf("header.name: concept %q changed during the import; retry: %w", h.Name, service.ErrAlreadyExists)
	}
	if oldRev != 0 && old.Object != rec.Object {
		store.Delete(ctx, old.Object)
	}
	c.log.Info("concept imported", "concept", h.Name, "digest", digest, "bytes", len(b))
	return rec, nil
}

// clusterBaseModels is the set of base model identities entries may be for: the
// configured one and those of live trainers and samplers.
func (c *Coordinator) clusterBaseModels(ctx context.Context) (map[string]bool, error) {
	known := map[string]bool{}
	if c.cfg.BaseModelID != "" {
		known[c.cfg.BaseModelID] = true
	}
	members, err := service.ListMembers(ctx, c.node.Etcd, service.RoleTrainer, service.RoleSampler)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.BaseModelID != "" {
			known[m.BaseModelID] = true
		}
	}
	return known, nil
}

func (a *api) DeleteConcept(ctx context.Context, req *pb.DeleteConceptRequest) (*pb.DeleteConceptResponse, error) {
	cli := a.c.node.Etcd
	r, rev, err := getConcept(ctx, cli, req.Name)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	if req.Digest != "" && req.Digest != r.Digest {
		return nil, service.ToStatus(fmt.Errorf("concept %q is now %s, not %s (it was replaced): %w", r.Name, r.Digest, req.Digest, service.ErrFailed))
	}
	tr, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(trainer.ConceptKey(r.Name)), "=", rev)).
		Then(clientv3.OpDelete(trainer.ConceptKey(r.Name))).Commit()
	if err != nil {
		return nil, service.ToStatus(fmt.Errorf("delete concept %q: %w", r.Name, err))
	}
	if !tr.Succeeded {
		return nil, service.ToStatus(fmt.Errorf("concept %q changed during the delete; retry: %w", r.Name, service.ErrFailed))
	}
	if a.c.buckets != nil {
		if err := a.c.buckets[trainer.BucketConcepts].Delete(ctx, r.Object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			a.c.log.Warn("deleting a concept's entry object", "object", r.Object, "err", err)
		}
	}
	a.c.log.Info("concept deleted", "concept", r.Name)
	return &pb.DeleteConceptResponse{}, nil
}
