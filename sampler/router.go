package sampler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// RouterConfig configures a Router.
type RouterConfig struct {
	// Etcd is where samplers are discovered (member records and StatePrefix keys).
	Etcd *clientv3.Client
	// Client is how sampler nodes are reached (token, TLS).
	Client service.ClientConfig
	// MaxAttempts bounds the calls one Generate makes across nodes (default 8).
	MaxAttempts int
	// MaxRetryWait caps the wait when every node answered ResourceExhausted (default 5 s).
	MaxRetryWait time.Duration
	Logger       *slog.Logger
}

// Router sends Generate requests to the sampler fleet: it prefers a ready node that
// already holds the request's concepts, then the shortest queue, and retries another
// node on Unavailable (node down or loading) or ResourceExhausted (queue full). It is
// safe for concurrent use.
type Router struct {
	cfg   RouterConfig
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewRouter builds a router; Close releases its connections.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Etcd == nil {
		return nil, errors.New("sampler router: an etcd client is required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.MaxRetryWait <= 0 {
		cfg.MaxRetryWait = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Router{cfg: cfg, conns: map[string]*grpc.ClientConn{}}, nil
}

// Close closes every connection.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for addr, c := range r.conns {
		errs = append(errs, c.Close())
		delete(r.conns, addr)
	}
	return errors.Join(errs...)
}

// Candidate is a sampler as the router sees it.
type Candidate struct {
	ID, Address string
	Ready       bool
	QueueDepth  int
	Capacity    int
	// Warm is how many of the request's concepts the node holds.
	Warm int
}

// Candidates lists the samplers for req, best first: ready before not ready, then
// more of the request's concepts held, then shorter queue, then id.
func (r *Router) Candidates(ctx context.Context, req *pb.GenerateRequest) ([]Candidate, error) {
	members, err := service.ListMembers(ctx, r.cfg.Etcd, service.RoleSampler)
	if err != nil {
		return nil, err
	}
	resp, err := r.cfg.Etcd.Get(ctx, StatePrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("sampler states: %w", err)
	}
	states := map[string]SamplerState{}
	for _, kv := range resp.Kvs {
		var st SamplerState
		if json.Unmarshal(kv.Value, &st) == nil {
			states[strings.TrimPrefix(string(kv.Key), StatePrefix)] = st
		}
	}
	var out []Candidate
	for _, m := range members {
		if m.Address == "" {
			continue
		}
		st, ok := states[m.ID]
		c := Candidate{ID: m.ID, Address: m.Address, Ready: ok && st.Ready, QueueDepth: m.QueueDepth, Capacity: m.Capacity}
		held := map[string]bool{}
		for _, n := range st.Concepts {
			held[n] = true
		}
		for _, b := range req.GetConcepts() {
			if held[b.Concept] {
				c.Warm++
			}
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		switch {
		case a.Ready != b.Ready:
			return a.Ready
		case a.Warm != b.Warm:
			return a.Warm > b.Warm
		case a.QueueDepth != b.QueueDepth:
			return a.QueueDepth < b.QueueDepth
		}
		return a.ID < b.ID
	})
	return out, nil
}

// Result is a finished generation.
type Result struct {
	// Images are the PNG files, in image order.
	Images [][]byte
	Done   *pb.Done
	// Attempts lists the nodes tried before the one that answered, with their errors.
	Attempts []Attempt
}

// Attempt is one node that failed a request the router then sent elsewhere.
type Attempt struct {
	SamplerID, Address string
	Err                error
}

// Generate runs req on the best sampler, retrying others on Unavailable and
// ResourceExhausted. A request without a seed gets one here, so that a retry makes the
// same images. onProgress (optional) sees every progress event with the node's id.
func (r *Router) Generate(ctx context.Context, req *pb.GenerateRequest, onProgress func(samplerID string, p *pb.Progress)) (*Result, error) {
	req = proto.Clone(req).(*pb.GenerateRequest)
	if req.Seed == nil {
		req.Seed = proto.Uint64(rand.Uint64() >> 1)
	}
	res := &Result{}
	failed := map[string]bool{}
	var lastErr error
	for attempt := 0; attempt < r.cfg.MaxAttempts; attempt++ {
		cands, err := r.Candidates(ctx, req)
		if err != nil {
			return nil, err
		}
		var pick *Candidate
		for i := range cands {
			if !failed[cands[i].ID] {
				pick = &cands[i]
				break
			}
		}
		if pick == nil {
			if len(cands) == 0 || lastErr == nil || status.Code(lastErr) != codes.ResourceExhausted {
				break
			}
			// Every node is busy: wait as the last one asked, then try them all again.
			wait := min(retryAfter(lastErr), r.cfg.MaxRetryWait)
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
			clear(failed)
			continue
		}
		images, done, err := r.generateOn(ctx, *pick, req, onProgress)
		if err == nil {
			res.Images, res.Done = images, done
			return res, nil
		}
		code := status.Code(err)
		if ctx.Err() != nil || (code != codes.Unavailable && code != codes.ResourceExhausted) {
			return nil, service.FromStatus(err)
		}
		r.cfg.Logger.Info("sampler refused or failed; trying another", "sampler", pick.ID, "addr", pick.Address, "code", code, "err", err)
		res.Attempts = append(res.Attempts, Attempt{SamplerID: pick.ID, Address: pick.Address, Err: err})
		failed[pick.ID] = true
		lastErr = err
	}
	if lastErr == nil {
		return nil, fmt.Errorf("no sampler is registered in etcd: %w", service.ErrUnavailable)
	}
	return nil, service.FromStatus(status.Errorf(status.Code(lastErr), "every sampler failed (%d attempts); last: %s", len(res.Attempts), status.Convert(lastErr).Message()))
}

// retryAfter reads the retry-after-ms hint attached to err (100 ms when absent).
func retryAfter(err error) time.Duration {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after
	}
	return 100 * time.Millisecond
}

// retryAfterError keeps a status error's retry-after-ms trailer.
type retryAfterError struct {
	error
	after time.Duration
}

func (e *retryAfterError) GRPCStatus() *status.Status { return status.Convert(e.error) }
func (e *retryAfterError) Unwrap() error              { return e.error }

func (r *Router) conn(addr string) (*grpc.ClientConn, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.conns[addr]; ok {
		return c, nil
	}
	c, err := service.Dial(addr, r.cfg.Client)
	if err != nil {
		return nil, err
	}
	r.conns[addr] = c
	return c, nil
}

// generateOn runs req on one node and assembles its images.
func (r *Router) generateOn(ctx context.Context, c Candidate, req *pb.GenerateRequest, onProgress func(string, *pb.Progress)) ([][]byte, *pb.Done, error) {
	conn, err := r.conn(c.Address)
	if err != nil {
		return nil, nil, status.Error(codes.Unavailable, err.Error())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var trailer metadata.MD
	stream, err := pb.NewSamplerClient(conn).Generate(ctx, req, grpc.Trailer(&trailer))
	if err != nil {
		return nil, nil, err
	}
	var images [][]byte
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, nil, status.Errorf(codes.Unavailable, "sampler %s ended the stream without Done", c.ID)
		}
		if err != nil {
			if v := trailer.Get(pb.MetadataRetryAfterMs); len(v) > 0 {
				if ms, perr := strconv.Atoi(v[0]); perr == nil {
					return nil, nil, &retryAfterError{error: err, after: time.Duration(ms) * time.Millisecond}
				}
			}
			return nil, nil, err
		}
		switch ev := m.Event.(type) {
		case *pb.GenerateResponse_Progress:
			if onProgress != nil {
				onProgress(c.ID, ev.Progress)
			}
		case *pb.GenerateResponse_Image:
			ch := ev.Image
			idx := int(ch.Index)
			if idx < 0 || idx > len(images) || idx >= pb.MaxImages {
				return nil, nil, status.Errorf(codes.Internal, "sampler %s sent image %d after %d images", c.ID, idx, len(images))
			}
			if idx == len(images) {
				images = append(images, make([]byte, 0, ch.TotalBytes))
			}
			if int64(len(images[idx])) != ch.Offset {
				return nil, nil, status.Errorf(codes.Internal, "sampler %s: image %d chunk at offset %d, expected %d", c.ID, idx, ch.Offset, len(images[idx]))
			}
			images[idx] = append(images[idx], ch.Data...)
		case *pb.GenerateResponse_Done:
			if want := int(ev.Done.GetRequest().GetNumImages()); len(images) != want {
				return nil, nil, status.Errorf(codes.Internal, "sampler %s sent %d images, the request had %d", c.ID, len(images), want)
			}
			return images, ev.Done, nil
		}
	}
}
