package trainer

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// JobChange edits a job record in place and returns the extra operations to commit with
// it. ok=false leaves the record unchanged.
type JobChange func(j *pb.Job) (ops []clientv3.Op, ok bool, err error)

// UpdateJob applies change to job id with compare-and-swap on the record's revision,
// retrying when someone else wrote the record in between. guards are further
// comparisons; when one of them fails UpdateJob gives up and returns ok=false. It
// returns the job as written (or as found when unchanged).
func UpdateJob(ctx context.Context, cli *clientv3.Client, id string, guards []clientv3.Cmp, change JobChange) (*pb.Job, bool, error) {
	key := JobKey(id)
	for {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return nil, false, fmt.Errorf("job %s: %w", id, err)
		}
		if len(resp.Kvs) == 0 {
			return nil, false, fmt.Errorf("job %s: %w", id, service.ErrNotFound)
		}
		rev := resp.Kvs[0].ModRevision
		j, err := UnmarshalJob(resp.Kvs[0].Value)
		if err != nil {
			return nil, false, fmt.Errorf("job %s: %w", id, err)
		}
		ops, ok, err := change(j)
		if err != nil || !ok {
			return j, false, err
		}
		val, err := MarshalJob(j)
		if err != nil {
			return nil, false, err
		}
		cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, guards...)
		tr, err := cli.Txn(ctx).If(cmps...).Then(append([]clientv3.Op{clientv3.OpPut(key, val)}, ops...)...).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return nil, false, fmt.Errorf("job %s: update: %w", id, err)
		}
		if tr.Succeeded {
			return j, true, nil
		}
		cur := tr.Responses[0].GetResponseRange().Kvs
		if len(cur) > 0 && cur[0].ModRevision == rev {
			return j, false, nil // a guard failed, not the record
		}
	}
}
