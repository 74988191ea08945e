package coordinator

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// The job record holds spec and state; rank 0's progress and the checkpoint pointer
// live in sub-records so trainers never contend with the leader for the record. A view
// folds them together, read at one etcd revision.

// loadJob reads job id with its sub-records and returns the folded view and the etcd
// revision it was read at.
func loadJob(ctx context.Context, cli *clientv3.Client, id string) (*pb.Job, int64, error) {
	key := trainer.JobKey(id)
	tr, err := cli.Txn(ctx).Then(clientv3.OpGet(key), clientv3.OpGet(key+"/", clientv3.WithPrefix())).Commit()
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", id, err)
	}
	kvs := tr.Responses[0].GetResponseRange().Kvs
	if len(kvs) == 0 {
		return nil, 0, fmt.Errorf("job %s: %w", id, service.ErrNotFound)
	}
	j, err := trainer.UnmarshalJob(kvs[0].Value)
	if err != nil {
		return nil, 0, fmt.Errorf("job %s: %w", id, err)
	}
	subs := map[string][]byte{}
	for _, kv := range tr.Responses[1].GetResponseRange().Kvs {
		subs[strings.TrimPrefix(string(kv.Key), key+"/")] = kv.Value
	}
	foldSubRecords(j, subs)
	return j, tr.Header.Revision, nil
}

// foldSubRecords copies progress and checkpoint sub-records into j's status.
func foldSubRecords(j *pb.Job, subs map[string][]byte) {
	st := j.Status
	var p trainer.ProgressRecord
	if b, ok := subs["progress"]; ok && json.Unmarshal(b, &p) == nil && st.State != pb.JobState_JOB_STATE_DONE {
		st.Step, st.Loss, st.LossAvg, st.StepsPerSec = int32(p.Step), p.Loss, p.LossAvg, p.StepsPerSec
	} else if ok && json.Unmarshal(b, &p) == nil {
		st.Loss, st.LossAvg, st.StepsPerSec = p.Loss, p.LossAvg, p.StepsPerSec
	}
	var c trainer.CheckpointMeta
	if b, ok := subs["checkpoint"]; ok && json.Unmarshal(b, &c) == nil {
		st.CheckpointStep = int32(c.Step)
	}
}

// listJobs reads every job record with its sub-records, oldest first.
func listJobs(ctx context.Context, cli *clientv3.Client) ([]*pb.Job, error) {
	resp, err := cli.Get(ctx, trainer.JobsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	var (
		jobs []*pb.Job
		subs = map[string]map[string][]byte{}
	)
	for _, kv := range resp.Kvs { // keys sort as <id>, <id>/assignment, <id>/checkpoint, ...
		k := string(kv.Key)
		if id := trainer.JobIDFromKey(k); id != "" {
			j, err := trainer.UnmarshalJob(kv.Value)
			if err != nil {
				return nil, fmt.Errorf("job %s: %w", id, err)
			}
			jobs = append(jobs, j)
			continue
		}
		rest := strings.TrimPrefix(k, trainer.JobsPrefix)
		id, sub, ok := strings.Cut(rest, "/")
		if !ok {
			continue
		}
		if subs[id] == nil {
			subs[id] = map[string][]byte{}
		}
		subs[id][sub] = kv.Value
	}
	pending := int32(0)
	for _, j := range jobs {
		foldSubRecords(j, subs[j.Id])
		if j.Status.State == pb.JobState_JOB_STATE_PENDING {
			j.Status.QueuePosition = pending
			pending++
		}
	}
	return jobs, nil
}
