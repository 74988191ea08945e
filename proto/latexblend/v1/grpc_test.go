package latexblendv1

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/validator"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The services below are the smallest real implementations that exercise the generated
// stubs over a loopback connection: streaming in both directions, chunking past gRPC's
// 4 MiB message limit, and the validator interceptor calling our Validate methods.

// bigImageBytes is larger than gRPC's default 4 MiB receive limit, so it only arrives
// because it is chunked.
const bigImageBytes = 5<<20 + 123

func bigImage() []byte {
	b := make([]byte, bigImageBytes)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

type testSampler struct {
	UnimplementedSamplerServer
}

func (testSampler) Generate(req *GenerateRequest, stream grpc.ServerStreamingServer[GenerateResponse]) error {
	run := req.WithDefaults(GenerateDefaults{Width: 64, Height: 64, Seed: 7, Scheduler: Scheduler_SCHEDULER_EULER})
	for s := int32(1); s <= run.GetSteps(); s++ {
		if err := stream.Send(&GenerateResponse{Event: &GenerateResponse_Progress{Progress: &Progress{
			Phase: Phase_PHASE_DENOISING, Step: s, Total: run.GetSteps(), Timestep: 1000 - 1000*s/run.GetSteps()}}}); err != nil {
			return err
		}
	}
	img := bigImage()
	for i := int32(0); i < run.GetNumImages(); i++ {
		for off := 0; off < len(img); off += ChunkBytes {
			end := min(off+ChunkBytes, len(img))
			if err := stream.Send(&GenerateResponse{Event: &GenerateResponse_Image{Image: &ImageChunk{
				Index: i, Offset: int64(off), Data: img[off:end], Last: end == len(img),
				ContentType: "image/png", TotalBytes: int64(len(img))}}}); err != nil {
				return err
			}
		}
	}
	return stream.Send(&GenerateResponse{Event: &GenerateResponse_Done{Done: &Done{Request: run, Mode: run.Mode()}}})
}

type testCoordinator struct {
	UnimplementedCoordinatorServer
}

func (testCoordinator) ImportConcept(stream grpc.ClientStreamingServer[ImportConceptRequest, ImportConceptResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHeader()
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message must be the header")
	}
	var buf bytes.Buffer
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		c := m.GetChunk()
		if c.GetOffset() != int64(buf.Len()) {
			return status.Errorf(codes.InvalidArgument, "chunk at offset %d, want %d", c.GetOffset(), buf.Len())
		}
		buf.Write(c.GetData())
	}
	if int64(buf.Len()) != h.GetSizeBytes() {
		return status.Errorf(codes.InvalidArgument, "got %d bytes, header said %d", buf.Len(), h.GetSizeBytes())
	}
	return stream.SendAndClose(&ImportConceptResponse{Concept: &Concept{Name: h.GetName(), SizeBytes: int64(buf.Len())}})
}

// startLoopback serves both services on 127.0.0.1 with the validator interceptors, and
// returns a connection to them; everything is shut down when the test ends.
func startLoopback(t *testing.T) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(validator.UnaryServerInterceptor()),
		grpc.StreamInterceptor(validator.StreamServerInterceptor()),
	)
	RegisterSamplerServer(srv, testSampler{})
	RegisterCoordinatorServer(srv, testCoordinator{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

func TestGenerateStreamsChunkedImagesOverLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := NewSamplerClient(startLoopback(t))
	req := &GenerateRequest{Prompt: "a dog and a cat", Steps: 5, NumImages: 2,
		Concepts: []*ConceptBinding{{ClassNoun: "dog", Concept: "mydog"}, {ClassNoun: "cat", Concept: "mycat"}}}
	stream, err := client.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int32
	images := map[int32]*bytes.Buffer{}
	var done *Done
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if done != nil {
			t.Fatalf("message after Done: %v", resp)
		}
		switch ev := resp.GetEvent().(type) {
		case *GenerateResponse_Progress:
			if len(images) > 0 {
				t.Fatalf("progress after image bytes")
			}
			steps = append(steps, ev.Progress.GetStep())
		case *GenerateResponse_Image:
			c := ev.Image
			buf := images[c.GetIndex()]
			if buf == nil {
				buf = &bytes.Buffer{}
				images[c.GetIndex()] = buf
			}
			if c.GetOffset() != int64(buf.Len()) {
				t.Fatalf("image %d chunk at offset %d, have %d bytes", c.GetIndex(), c.GetOffset(), buf.Len())
			}
			buf.Write(c.GetData())
		case *GenerateResponse_Done:
			done = ev.Done
		}
	}
	if len(steps) != 5 || steps[0] != 1 || steps[4] != 5 {
		t.Errorf("progress steps = %v, want 1..5", steps)
	}
	if len(images) != 2 {
		t.Fatalf("got %d images, want 2", len(images))
	}
	for i, buf := range images {
		if !bytes.Equal(buf.Bytes(), bigImage()) {
			t.Errorf("image %d: %d bytes differ from the %d sent", i, buf.Len(), bigImageBytes)
		}
	}
	if done == nil {
		t.Fatal("stream ended without Done")
	}
	if got := done.GetRequest(); got.GetSeed() != 7 || got.GetWidth() != 64 || got.GetBlend().GetBlendingStart() != DefaultBlendingStart {
		t.Errorf("Done.request lacks defaults: %v", got)
	}
	if done.GetMode() != "replace" {
		t.Errorf("Done.mode = %q, want replace", done.GetMode())
	}
}

func TestValidatorInterceptorRejectsBadRequests(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := startLoopback(t)

	stream, err := NewSamplerClient(conn).Generate(ctx, &GenerateRequest{Prompt: "a dog", Steps: 5000})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(),
		"steps: must be in 1..1000 (or 0 for the default 50), got 5000") {
		t.Errorf("Generate with steps 5000: %v, want InvalidArgument naming steps", err)
	}

	// A unary method the test server does not implement: validation runs first, so a
	// bad request gets InvalidArgument, and a good one reaches the handler.
	_, err = NewCoordinatorClient(conn).GetJob(ctx, &GetJobRequest{JobId: "../x"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `job_id: "../x" is not an id`) {
		t.Errorf("GetJob with a bad id: %v, want InvalidArgument naming job_id", err)
	}
	_, err = NewCoordinatorClient(conn).GetJob(ctx, &GetJobRequest{JobId: testJob})
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("GetJob with a good id: %v, want Unimplemented from the handler", err)
	}
}

func TestImportConceptClientStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := NewCoordinatorClient(startLoopback(t))
	entry := bigImage()

	stream, err := client.ImportConcept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*ImportConceptRequest{{Payload: &ImportConceptRequest_Header{Header: &ImportConceptHeader{
		Name: "mydog", SizeBytes: int64(len(entry))}}}}
	for off := 0; off < len(entry); off += ChunkBytes {
		end := min(off+ChunkBytes, len(entry))
		msgs = append(msgs, &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Offset: int64(off), Data: entry[off:end], Last: end == len(entry)}}})
	}
	for _, m := range msgs {
		if err := stream.Send(m); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetConcept().GetSizeBytes() != int64(len(entry)) || resp.GetConcept().GetName() != "mydog" {
		t.Fatalf("import response %v, want mydog with %d bytes", resp, len(entry))
	}

	// The stream interceptor validates every received message: a bad header is refused.
	stream, err = client.ImportConcept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bad := proto.Clone(msgs[0]).(*ImportConceptRequest)
	bad.GetHeader().Name = "../../etc"
	if err := stream.Send(bad); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("send: %v", err)
	}
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), `header.name: "../../etc" is not a valid concept name`) {
		t.Fatalf("import with a bad name: %v, want InvalidArgument naming header.name", err)
	}
}
