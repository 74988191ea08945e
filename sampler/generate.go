package sampler

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// Generate serves one request: resolve its concepts through the cache, plan it against
// the model, queue it (or refuse it when the queue is full), stream progress while it
// runs in a batch, then decode, encode and stream its PNGs and a Done.
func (s *Service) Generate(req *pb.GenerateRequest, stream grpc.ServerStreamingServer[pb.GenerateResponse]) error {
	return service.ToStatus(s.generate(req, stream))
}

func (s *Service) generate(req *pb.GenerateRequest, stream grpc.ServerStreamingServer[pb.GenerateResponse]) error {
	ctx := stream.Context()
	if !s.ready.Load() {
		return fmt.Errorf("%w: %w", errNotReady, service.ErrUnavailable)
	}
	if err := req.Validate(); err != nil {
		return fmt.Errorf("%w: %w", err, service.ErrInvalidArgument)
	}
	send := func(p *pb.Progress) error {
		return stream.Send(&pb.GenerateResponse{Event: &pb.GenerateResponse_Progress{Progress: p}})
	}
	if len(req.Concepts) > 0 {
		if err := send(&pb.Progress{Phase: pb.Phase_PHASE_LOADING_CONCEPTS}); err != nil {
			return err
		}
	}
	concepts, resolved, err := s.resolveConcepts(ctx, req)
	if err != nil {
		return err
	}
	pl, err := planRequest(s.pipeline, req, concepts)
	if err != nil {
		return err
	}
	events := make(chan *pb.Progress, pl.steps+4)
	j := &job{run: run{plan: pl, ctx: ctx, progress: func(p *pb.Progress) {
		select {
		case events <- p:
		default: // never blocks the batch; the buffer holds every step
		}
	}}}
	pos, err := s.queue.submit(j)
	if err != nil {
		s.metrics.rejected.Inc()
		ms := s.queue.retryAfter().Milliseconds()
		stream.SetTrailer(metadata.Pairs(pb.MetadataRetryAfterMs, strconv.FormatInt(ms, 10)))
		return err
	}
	if err := send(&pb.Progress{Phase: pb.Phase_PHASE_QUEUED, QueuePosition: int32(pos), Total: int32(pl.steps)}); err != nil {
		s.queue.remove(j)
		return err
	}
	for waiting := true; waiting; {
		select {
		case p := <-events:
			if err := send(p); err != nil {
				s.queue.remove(j)
				return err
			}
		case <-j.done:
			waiting = false
		case <-ctx.Done():
			s.queue.remove(j)
			return fmt.Errorf("client went away: %w", ctx.Err())
		}
	}
	for drained := false; !drained; {
		select {
		case p := <-events:
			if err := send(p); err != nil {
				return err
			}
		default:
			drained = true
		}
	}
	if j.err != nil {
		return j.err
	}
	if err := send(&pb.Progress{Phase: pb.Phase_PHASE_DECODING, Step: int32(pl.steps), Total: int32(pl.steps)}); err != nil {
		return err
	}
	pngs, err := s.encodeImages(ctx, pl, resolved, j.latents)
	if err != nil {
		return err
	}
	for i, img := range pngs {
		if err := sendImage(stream, i, img); err != nil {
			return err
		}
	}
	s.metrics.images.Add(float64(len(pngs)))
	done := &pb.Done{
		Request: pl.req, Concepts: resolved, Mode: pl.mode, BaseModelId: pl.identity,
		SamplerId: s.node.ID(), Version: s.cfg.Node.Version,
		QueueTime: durationpb.New(j.started.Sub(j.enqueued)), RunTime: durationpb.New(time.Since(j.started)),
		UnetBatch: int32(j.unetBatch),
	}
	return stream.Send(&pb.GenerateResponse{Event: &pb.GenerateResponse_Done{Done: done}})
}

// resolveConcepts fetches every bound concept (cache or bank), in request order.
func (s *Service) resolveConcepts(ctx context.Context, req *pb.GenerateRequest) ([]*cachedConcept, []*pb.ResolvedConcept, error) {
	var out []*cachedConcept
	var res []*pb.ResolvedConcept
	for i, b := range req.Concepts {
		c, _, err := s.cache.get(ctx, b.Concept)
		if err != nil {
			return nil, nil, fmt.Errorf("concepts[%d].concept: %w", i, err)
		}
		out = append(out, c)
		res = append(res, &pb.ResolvedConcept{ClassNoun: b.ClassNoun, Concept: b.Concept, Digest: c.digest})
	}
	return out, res, nil
}

// sendImage streams one encoded image in ChunkBytes pieces.
func sendImage(stream grpc.ServerStreamingServer[pb.GenerateResponse], index int, data []byte) error {
	for off := 0; ; off += pb.ChunkBytes {
		end := min(off+pb.ChunkBytes, len(data))
		ch := &pb.ImageChunk{Index: int32(index), Offset: int64(off), Data: data[off:end], Last: end == len(data),
			ContentType: "image/png", TotalBytes: int64(len(data))}
		if err := stream.Send(&pb.GenerateResponse{Event: &pb.GenerateResponse_Image{Image: ch}}); err != nil {
			return err
		}
		if ch.Last {
			return nil
		}
	}
}

// execute is the queue's worker body: one batch of jobs, batched or alone.
func (s *Service) execute(ctx context.Context, jobs []*job) {
	runs := make([]*run, len(jobs))
	rows := 0
	for i, j := range jobs {
		runs[i] = &j.run
		rows += j.plan.rows()
	}
	for _, j := range jobs {
		j.unetBatch = rows
	}
	s.metrics.batchRows.Observe(float64(rows))
	if len(jobs) == 1 && !jobs[0].plan.batchable() {
		s.engine.runAlone(runs[0])
		return
	}
	s.engine.runBatch(ctx, runs)
}
