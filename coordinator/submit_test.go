package coordinator_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latexblend/latexblend/blend"
	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/model/safetensors"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

const testMaxImageBytes = 4096

// noisyPNG is a PNG too large for testMaxImageBytes (noise does not compress).
func noisyPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if buf.Len() <= testMaxImageBytes {
		t.Fatalf("noisy PNG is only %d bytes", buf.Len())
	}
	return buf.Bytes()
}

// entryBytes writes a concept entry with the given metadata overrides; places > 1 adds
// the per-place rows of places 2 … places.
func entryBytes(t *testing.T, md map[string]string, places ...int) []byte {
	t.Helper()
	meta := map[string]string{
		trainer.EntryKeyFormat: trainer.EntryFormat, trainer.EntryKeyClassNoun: "dog", trainer.EntryKeyModifier: "<new1>",
		trainer.EntryKeyNTok: "2", trainer.EntryKeyBaseModelID: testBaseModel,
	}
	for k, v := range md {
		meta[k] = v
	}
	path := filepath.Join(t.TempDir(), "e.safetensors")
	rows := []float32{1, 2, 3, 4, 5, 6, 7, 8}
	tensors := []safetensors.Tensor{
		{Name: "up_blocks.0.attn2.k", Shape: []int{2, 4}, F32: rows}, {Name: "up_blocks.0.attn2.v", Shape: []int{2, 4}, F32: rows},
	}
	if len(places) > 0 && places[0] > 1 {
		meta[blend.EntryKeyPlaces] = strconv.Itoa(places[0])
		for k := 2; k <= places[0]; k++ {
			for _, kv := range []string{"k", "v"} {
				tensors = append(tensors, safetensors.Tensor{Name: fmt.Sprintf("place%d.up_blocks.0.attn2.%s", k, kv), Shape: []int{2, 4}, F32: rows})
			}
		}
	}
	err := safetensors.WriteFile(path, tensors, meta)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func importEntry(ctx context.Context, api pb.CoordinatorClient, name string, replace bool, b []byte) (*pb.Concept, error) {
	s, err := api.ImportConcept(ctx)
	if err != nil {
		return nil, err
	}
	hdr := &pb.ImportConceptHeader{Name: name, Replace: replace, SizeBytes: int64(len(b)), Digest: trainer.Digest(b)}
	chunk := &pb.DataChunk{Data: b, Last: true}
	for _, m := range []*pb.ImportConceptRequest{
		{Payload: &pb.ImportConceptRequest_Header{Header: hdr}}, {Payload: &pb.ImportConceptRequest_Chunk{Chunk: chunk}},
	} {
		if err := s.Send(m); err != nil {
			if errors.Is(err, io.EOF) { // the server answered early: its status comes from CloseAndRecv
				break
			}
			return nil, err
		}
	}
	r, err := s.CloseAndRecv()
	return r.GetConcept(), err
}

// Bad submissions get a clear gRPC error and leave no job and no uploaded object, both
// through the client (which cleans up after refusals of the request validator) and
// through raw uploads the coordinator must remove itself.
func TestBadSubmissionsLeaveNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, coordinator: func(cfg *coordinator.Config) {
		cfg.MaxImageBytes, cfg.BaseModelID = testMaxImageBytes, testBaseModel
	}})
	if _, err := importEntry(ctx, c.api(), "banked", false, entryBytes(t, nil)); err != nil {
		t.Fatal(err)
	}
	pending := c.submit(ctx, spec("reserved", 1, 10, 5), 1) // no trainers: stays pending

	good := testImages(t, 2)
	bad := []coordinator.ImageFile{{Name: "notes.png", Data: []byte("this is not an image")}}
	big := []coordinator.ImageFile{{Name: "huge.png", Data: noisyPNG(t)}}
	withSpec := func(f func(*pb.ConceptJobSpec)) *pb.ConceptJobSpec {
		s := spec("fresh", 1, 10, 5)
		f(s)
		return s
	}
	cases := []struct {
		name   string
		spec   *pb.ConceptJobSpec
		images []coordinator.ImageFile
		code   codes.Code
		msg    string
	}{
		{"no images", spec("fresh", 1, 10, 5), nil, codes.InvalidArgument, "spec.instance_images: at least one image is required"},
		{"unreadable image", spec("fresh", 1, 10, 5), bad, codes.InvalidArgument, "(notes.png) is not a readable PNG or JPEG"},
		{"class noun missing from the extract prompt", withSpec(func(s *pb.ConceptJobSpec) { s.ExtractPrompt = "photo of <new1> cat" }),
			good, codes.InvalidArgument, "spec.extract_prompt"},
		{"template without a slot", withSpec(func(s *pb.ConceptJobSpec) { s.Templates = []string{"a photo of a dog"} }),
			good, codes.InvalidArgument, "spec.templates[0]"},
		{"oversize upload", spec("fresh", 1, 10, 5), big, codes.InvalidArgument, "over the limit of 4096"},
		{"name in the bank", spec("banked", 1, 10, 5), good, codes.AlreadyExists, `concept "banked" already exists`},
		{"name being trained", spec("reserved", 1, 10, 5), good, codes.AlreadyExists, "already being trained by job " + pending.Id},
		{"bad name", spec("../etc", 1, 10, 5), good, codes.InvalidArgument, "spec.concept_name"},
		{"upper-case name", spec("MyDog", 1, 10, 5), good, codes.InvalidArgument, "spec.concept_name"},
	}
	jobsBefore := c.keys(ctx, trainer.JobsPrefix)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := coordinator.Submit(ctx, c.api(), c.buckets[trainer.BucketDatasets], tc.spec, tc.images, nil)
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("error = %v, want %v containing %q", err, tc.code, tc.msg)
			}
			if o := c.objects(ctx, trainer.BucketDatasets, "uploads/"+tc.spec.UploadId+"/"); len(o) != 0 {
				t.Errorf("uploads left: %v", o)
			}
			if k := c.keys(ctx, trainer.JobsPrefix); len(k) != len(jobsBefore) {
				t.Errorf("job keys %v, want %v", k, jobsBefore)
			}
		})
	}

	// Without the client's cleanup the coordinator deletes what it refused.
	for _, img := range [][]byte{[]byte("garbage"), noisyPNG(t)} {
		uid := service.NewID()
		obj := "uploads/" + uid + "/x.png"
		if _, err := c.buckets[trainer.BucketDatasets].PutBytes(ctx, obj, img); err != nil {
			t.Fatal(err)
		}
		s := spec("fresh", 1, 10, 5)
		s.UploadId = uid
		s.InstanceImages = []*pb.ImageRef{{Object: obj, Digest: trainer.Digest(img), SizeBytes: int64(len(img))}}
		_, err := c.api().SubmitConceptJob(ctx, &pb.SubmitConceptJobRequest{Spec: s})
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("raw submission: %v, want InvalidArgument", err)
		}
		if o := c.objects(ctx, trainer.BucketDatasets, "uploads/"+uid+"/"); len(o) != 0 {
			t.Errorf("coordinator left the refused upload: %v", o)
		}
	}
	if n := len(c.keys(ctx, trainer.JobsPrefix)); n != len(jobsBefore) {
		t.Errorf("%d job keys after refusals, want %d", n, len(jobsBefore))
	}
}

// Entries made offline are imported only when they are entries for one of the
// cluster's base models; names are refused when taken unless replacement is asked for.
func TestImportAndDeleteConcept(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, trainers: 1})
	first := entryBytes(t, nil)
	cn, err := importEntry(ctx, c.api(), "imported", false, first)
	if err != nil {
		t.Fatal(err)
	}
	if cn.Digest != trainer.Digest(first) || cn.NTok != 2 || cn.ClassNoun != "dog" || cn.JobId != "" || cn.Places != 1 {
		t.Errorf("imported concept = %v", cn)
	}
	cases := []struct {
		name    string
		concept string
		replace bool
		entry   []byte
		code    codes.Code
		msg     string
	}{
		{"other base model", "other", false, entryBytes(t, map[string]string{trainer.EntryKeyBaseModelID: "sdxl-elsewhere"}),
			codes.FailedPrecondition, "entry is for base model sdxl-elsewhere"},
		{"a delta, not an entry", "delta", false, entryBytes(t, map[string]string{trainer.EntryKeyFormat: "latexblend.delta/v1"}),
			codes.InvalidArgument, `"format" is "latexblend.delta/v1"`},
		{"no n_tok", "nontok", false, entryBytes(t, map[string]string{trainer.EntryKeyNTok: ""}), codes.InvalidArgument, `lacks "n_tok"`},
		{"not safetensors", "junk", false, []byte("junk junk junk"), codes.InvalidArgument, "concept entry"},
		{"taken name", "imported", false, entryBytes(t, map[string]string{trainer.EntryKeyClassNoun: "cat"}), codes.AlreadyExists, "already exists"},
		{"bad name", "a/b", false, first, codes.InvalidArgument, "header.name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := importEntry(ctx, c.api(), tc.concept, tc.replace, tc.entry)
			st, _ := status.FromError(err)
			if st.Code() != tc.code || !strings.Contains(st.Message(), tc.msg) {
				t.Fatalf("error = %v, want %v containing %q", err, tc.code, tc.msg)
			}
		})
	}
	if o := c.objects(ctx, trainer.BucketConcepts, ""); len(o) != 1 {
		t.Errorf("concept objects after refused imports: %v", o)
	}
	second := entryBytes(t, map[string]string{trainer.EntryKeyClassNoun: "cat"}, 3)
	cn, err = importEntry(ctx, c.api(), "imported", true, second)
	if err != nil || cn.ClassNoun != "cat" || cn.Places != 3 {
		t.Fatalf("replace: %v, %v", cn, err)
	}
	if o := c.objects(ctx, trainer.BucketConcepts, ""); len(o) != 1 || !strings.HasSuffix(o[0], strings.TrimPrefix(cn.Digest, "sha256:")) {
		t.Errorf("concept objects after replace: %v", o)
	}
	if got := download(t, ctx, c.api(), "imported"); !bytes.Equal(got, second) {
		t.Error("downloaded entry differs from the imported one")
	}
	if _, err := c.api().DeleteConcept(ctx, &pb.DeleteConceptRequest{Name: "imported", Digest: trainer.Digest(first)}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("delete with a stale digest: %v, want FailedPrecondition", err)
	}
	if _, err := c.api().DeleteConcept(ctx, &pb.DeleteConceptRequest{Name: "imported"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.api().GetConcept(ctx, &pb.GetConceptRequest{Name: "imported"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetConcept after delete: %v, want NotFound", err)
	}
	if o := c.objects(ctx, trainer.BucketConcepts, ""); len(o) != 0 {
		t.Errorf("concept objects after delete: %v", o)
	}
}

// The leader's janitor deletes uploads no job references once they are older than the
// grace period, and leaves a job's uploads alone.
func TestJanitorDeletesOrphanedUploads(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c := startCluster(t, ctx, clusterConfig{coordinators: 1, coordinator: func(cfg *coordinator.Config) {
		cfg.UploadGrace, cfg.JanitorInterval = 500*time.Millisecond, 100*time.Millisecond
		cfg.BaseModelID = testBaseModel
	}})
	job := c.submit(ctx, spec("kept", 1, 10, 5), 2) // no trainers: stays pending
	kept, err := importEntry(ctx, c.api(), "banked", false, entryBytes(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	orphan := "uploads/" + service.NewID() + "/lost.png"
	if _, err := c.buckets[trainer.BucketDatasets].PutBytes(ctx, orphan, testPNG(t, 3)); err != nil {
		t.Fatal(err)
	}
	orphanEntry := "gone/0123"
	if _, err := c.buckets[trainer.BucketConcepts].PutBytes(ctx, orphanEntry, []byte("entry of a rank 0 that died")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() error {
		if o := c.objects(ctx, trainer.BucketDatasets, orphan); len(o) != 0 {
			return status.Errorf(codes.Unknown, "orphan %s still there", orphan)
		}
		if o := c.objects(ctx, trainer.BucketConcepts, orphanEntry); len(o) != 0 {
			return status.Errorf(codes.Unknown, "orphan entry %s still there", orphanEntry)
		}
		return nil
	})
	if got := download(t, ctx, c.api(), "banked"); trainer.Digest(got) != kept.Digest {
		t.Error("the janitor touched a registered entry")
	}
	if o := c.objects(ctx, trainer.BucketDatasets, "uploads/"+job.Spec.UploadId+"/"); len(o) != 2 {
		t.Errorf("the pending job's uploads = %v, want 2 kept", o)
	}
}
