package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

func (a *api) SubmitConceptJob(ctx context.Context, req *pb.SubmitConceptJobRequest) (*pb.SubmitConceptJobResponse, error) {
	job, err := a.c.submit(ctx, req.Spec)
	if err != nil {
		// Only a refusal is known to have created no job; after an etcd error the
		// transaction may have committed, so the uploads are left to the janitor, which
		// deletes them only if no job references them.
		if refused(err) {
			if derr := a.c.deleteUploads(context.WithoutCancel(ctx), req.Spec.GetUploadId()); derr != nil {
				a.c.log.Warn("deleting a rejected submission's uploads", "upload", req.Spec.GetUploadId(), "err", derr)
			}
		}
		return nil, service.ToStatus(err)
	}
	return &pb.SubmitConceptJobResponse{Job: job}, nil
}

func (a *api) GetJob(ctx context.Context, req *pb.GetJobRequest) (*pb.GetJobResponse, error) {
	j, _, err := loadJob(ctx, a.c.node.Etcd, req.JobId)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	if j.Status.State == pb.JobState_JOB_STATE_PENDING {
		if all, err := listJobs(ctx, a.c.node.Etcd); err == nil {
			for _, o := range all {
				if o.Id == j.Id {
					j.Status.QueuePosition = o.Status.QueuePosition
				}
			}
		}
	}
	return &pb.GetJobResponse{Job: j}, nil
}

func (a *api) ListJobs(ctx context.Context, req *pb.ListJobsRequest) (*pb.ListJobsResponse, error) {
	all, err := listJobs(ctx, a.c.node.Etcd)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	size := int(req.PageSize)
	if size == 0 {
		size = pb.DefaultPageSize
	}
	resp := &pb.ListJobsResponse{}
	for i := len(all) - 1; i >= 0; i-- { // ULIDs sort by creation: newest last
		j := all[i]
		if req.PageToken != "" && j.Id >= req.PageToken {
			continue
		}
		if len(req.States) > 0 && !slices.Contains(req.States, j.Status.State) {
			continue
		}
		if len(resp.Jobs) == size {
			resp.NextPageToken = resp.Jobs[size-1].Id
			break
		}
		resp.Jobs = append(resp.Jobs, j)
	}
	return resp, nil
}

func (a *api) WatchJob(req *pb.WatchJobRequest, stream pb.Coordinator_WatchJobServer) error {
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	cli := a.c.node.Etcd
	j, rev, err := loadJob(ctx, cli, req.JobId)
	if err != nil {
		return service.ToStatus(err)
	}
	if err := stream.Send(&pb.WatchJobResponse{Job: j}); err != nil {
		return err
	}
	key := trainer.JobKey(req.JobId)
	wctx := clientv3.WithRequireLeader(ctx)
	recs := cli.Watch(wctx, key, clientv3.WithRev(rev+1))
	subs := cli.Watch(wctx, key+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	prev := j
	for !trainer.Terminal(prev.Status.State) {
		var (
			wr clientv3.WatchResponse
			ok bool
		)
		select {
		case wr, ok = <-recs:
		case wr, ok = <-subs:
		}
		if !ok {
			if ctx.Err() != nil {
				return service.ToStatus(ctx.Err())
			}
			return service.ToStatus(fmt.Errorf("watch job %s: etcd watch ended: %w", req.JobId, service.ErrUnavailable))
		}
		if err := wr.Err(); err != nil {
			return service.ToStatus(fmt.Errorf("watch job %s: %w: %w", req.JobId, err, service.ErrUnavailable))
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete && string(ev.Kv.Key) == key {
				return service.ToStatus(fmt.Errorf("job %s was deleted: %w", req.JobId, service.ErrNotFound))
			}
		}
		cur, _, err := loadJob(ctx, cli, req.JobId)
		if err != nil {
			return service.ToStatus(err)
		}
		if proto.Equal(cur, prev) {
			continue
		}
		if err := stream.Send(&pb.WatchJobResponse{Job: cur, Event: describeChange(prev, cur)}); err != nil {
			return err
		}
		prev = cur
	}
	return nil
}

// refused reports whether err is a decision of the coordinator (the request was bad or
// conflicted), as opposed to a failure whose outcome is unknown.
func refused(err error) bool {
	for _, s := range []error{service.ErrInvalidArgument, service.ErrAlreadyExists, service.ErrFailed, service.ErrNotFound} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// describeChange words a state change or generation bump for WatchJobResponse.event;
// plain progress gets "".
func describeChange(prev, cur *pb.Job) string {
	p, c := prev.Status, cur.Status
	switch {
	case c.State != p.State && c.State == pb.JobState_JOB_STATE_FAILED:
		return "failed: " + c.FailureReason
	case c.State != p.State:
		return "state " + stateName(c.State)
	case c.Generation != p.Generation:
		return fmt.Sprintf("generation %d: ring re-formed with %d trainers, resuming from step %d", c.Generation, len(c.TrainerIds), c.CheckpointStep)
	case c.CheckpointStep != p.CheckpointStep:
		return fmt.Sprintf("checkpoint at step %d", c.CheckpointStep)
	}
	return ""
}

func (a *api) CancelJob(ctx context.Context, req *pb.CancelJobRequest) (*pb.CancelJobResponse, error) {
	cli := a.c.node.Etcd
	reason := "cancelled"
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	_, _, err := trainer.UpdateJob(ctx, cli, req.JobId, nil, func(j *pb.Job) ([]clientv3.Op, bool, error) {
		if trainer.Terminal(j.Status.State) {
			return nil, false, nil
		}
		now := timestamppb.Now()
		st := j.Status
		ops := []clientv3.Op{clientv3.OpDelete(trainer.AssignmentKey(j.Id)), clientv3.OpDelete(trainer.ReformKey(j.Id)),
			clientv3.OpDelete(trainer.NameKey(j.Spec.ConceptName))}
		st.State, st.FailureReason, st.Updated, st.Finished, st.TrainerIds = pb.JobState_JOB_STATE_CANCELLED, reason, now, now, nil
		return ops, true, nil
	})
	if err != nil {
		return nil, service.ToStatus(err)
	}
	// Free the gang now rather than at the leader's next pass; the trainers watching
	// their claims stop at once.
	if err := releaseClaims(ctx, cli, req.JobId); err != nil {
		a.c.log.Warn("releasing a cancelled job's trainers", "job", req.JobId, "err", err)
	}
	j, _, err := loadJob(ctx, cli, req.JobId)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	a.c.log.Info("job cancelled", "job", req.JobId, "state", stateName(j.Status.State))
	return &pb.CancelJobResponse{Job: j}, nil
}

func (a *api) DeleteJob(ctx context.Context, req *pb.DeleteJobRequest) (*pb.DeleteJobResponse, error) {
	cli := a.c.node.Etcd
	j, _, err := loadJob(ctx, cli, req.JobId)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	if !trainer.Terminal(j.Status.State) {
		return nil, service.ToStatus(fmt.Errorf("job %s is %s: cancel it before deleting it: %w", j.Id, stateName(j.Status.State), service.ErrFailed))
	}
	if a.c.buckets == nil {
		return nil, service.ToStatus(errNoObjectStore)
	}
	if err := a.c.cleanupJob(ctx, j); err != nil {
		return nil, service.ToStatus(err)
	}
	if err := a.c.deleteUploads(ctx, j.Spec.UploadId); err != nil {
		return nil, service.ToStatus(err)
	}
	key := trainer.JobKey(j.Id)
	if _, err := cli.Txn(ctx).Then(clientv3.OpDelete(key+"/", clientv3.WithPrefix()), clientv3.OpDelete(key)).Commit(); err != nil {
		return nil, service.ToStatus(fmt.Errorf("delete job %s: %w", j.Id, err))
	}
	a.c.log.Info("job deleted", "job", j.Id)
	return &pb.DeleteJobResponse{}, nil
}

// stateName is a job state in lower case without its prefix ("running").
func stateName(s pb.JobState) string {
	n := s.String()
	if len(n) > len("JOB_STATE_") {
		n = n[len("JOB_STATE_"):]
	}
	b := []byte(n)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
