package sampler

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// bigImageServer answers Generate with fixed images through the node's own chunking
// (sendImage), so the test exercises the real wire path with gRPC's default 4 MiB
// message limits on both ends.
type bigImageServer struct {
	pb.UnimplementedSamplerServer
	images [][]byte
}

func (s *bigImageServer) Generate(req *pb.GenerateRequest, stream grpc.ServerStreamingServer[pb.GenerateResponse]) error {
	for i, img := range s.images {
		if err := sendImage(stream, i, img); err != nil {
			return err
		}
	}
	return stream.Send(&pb.GenerateResponse{Event: &pb.GenerateResponse_Done{Done: &pb.Done{Request: req}}})
}

// TestImagesBeyondMessageLimit streams two images of 6 MiB and 1 MiB + 1 byte and
// checks they arrive intact.
func TestImagesBeyondMessageLimit(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	images := [][]byte{make([]byte, 6<<20), make([]byte, pb.ChunkBytes+1)}
	for _, img := range images {
		for i := range img {
			img[i] = byte(r.Uint32())
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterSamplerServer(srv, &bigImageServer{images: images})
	go srv.Serve(lis)
	defer srv.Stop()
	rt := &Router{cfg: RouterConfig{Client: service.ClientConfig{}}, conns: map[string]*grpc.ClientConn{}}
	defer rt.Close()
	got, done, err := rt.generateOn(context.Background(), Candidate{ID: "big", Address: lis.Addr().String()},
		&pb.GenerateRequest{Prompt: "x", NumImages: 2, Seed: proto.Uint64(1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if done == nil || len(got) != 2 {
		t.Fatalf("got %d images, done %v", len(got), done)
	}
	for i := range images {
		if !bytes.Equal(got[i], images[i]) {
			t.Fatalf("image %d: %d bytes back, %d sent, or different content", i, len(got[i]), len(images[i]))
		}
	}
}
