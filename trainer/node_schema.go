package trainer

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

// The etcd records the coordinator and the trainer nodes share. The coordinator owns the
// job record and the assignment; trainers write progress, checkpoints, reform requests
// and, when a job ends, its final state and concept record. Every key is below
// service.KeyRoot and every prefix scan ends in "/".
const (
	// JobsPrefix holds one job record per job: JobsPrefix + <id> (protojson of pb.Job),
	// with its sub-records under JobsPrefix + <id> + "/".
	JobsPrefix = service.KeyRoot + "jobs/"
	// ClaimsPrefix holds one claim per busy trainer: ClaimsPrefix + <trainer id> = job id,
	// bound to the trainer's member lease so that a dead trainer's claim vanishes with it.
	ClaimsPrefix = service.KeyRoot + "claims/"
	// ConceptsPrefix is the concept registry: ConceptsPrefix + <name> (JSON ConceptRecord).
	ConceptsPrefix = service.KeyRoot + "concepts/"
	// NamesPrefix reserves a concept name for the unfinished job that will produce it:
	// NamesPrefix + <name> = job id. It makes "duplicate name" checks atomic.
	NamesPrefix = service.KeyRoot + "names/"
)

// Object Store buckets.
const (
	BucketDatasets    = "datasets"
	BucketCheckpoints = "checkpoints"
	BucketConcepts    = "concepts"
	BucketDeltas      = "deltas"
)

// Buckets lists every bucket the onboarding machinery uses.
var Buckets = []string{BucketDatasets, BucketCheckpoints, BucketConcepts, BucketDeltas}

// JobKey is a job's record.
func JobKey(id string) string { return JobsPrefix + id }

// AssignmentKey holds the job's current gang (Assignment).
func AssignmentKey(id string) string { return JobKey(id) + "/assignment" }

// CheckpointKey holds the job's last checkpoint (CheckpointMeta).
func CheckpointKey(id string) string { return JobKey(id) + "/checkpoint" }

// ProgressKey holds rank 0's last progress report (ProgressRecord).
func ProgressKey(id string) string { return JobKey(id) + "/progress" }

// ReformKey holds the generation whose ring broke without a member dying: the leader
// answers it with a new generation.
func ReformKey(id string) string { return JobKey(id) + "/reform" }

// ClaimKey is one trainer's claim.
func ClaimKey(trainerID string) string { return ClaimsPrefix + trainerID }

// ConceptKey is one concept's registry record.
func ConceptKey(name string) string { return ConceptsPrefix + name }

// NameKey is one concept name's reservation.
func NameKey(name string) string { return NamesPrefix + name }

// JobIDFromKey returns the id of a job record key, or "" for sub-records and other keys.
func JobIDFromKey(key string) string {
	id, ok := strings.CutPrefix(key, JobsPrefix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// Assignment is the gang the leader gave a job: Trainers[r] runs rank r of generation
// Generation.
type Assignment struct {
	Job        string    `json:"job"`
	Generation int64     `json:"generation"`
	Trainers   []string  `json:"trainers"`
	Created    time.Time `json:"created"`
}

// Rank returns the trainer's rank, or -1 when it is not in the gang.
func (a Assignment) Rank(trainerID string) int {
	for i, t := range a.Trainers {
		if t == trainerID {
			return i
		}
	}
	return -1
}

// ProgressRecord is rank 0's last report.
type ProgressRecord struct {
	Generation  int64     `json:"generation"`
	Step        int       `json:"step"`
	TotalSteps  int       `json:"total_steps"`
	Loss        float32   `json:"loss"`
	LossAvg     float32   `json:"loss_avg"`
	StepsPerSec float32   `json:"steps_per_sec"`
	Updated     time.Time `json:"updated"`
}

// CheckpointMeta points at the job's last checkpoint object.
type CheckpointMeta struct {
	Object     string    `json:"object"`
	Digest     string    `json:"digest"`
	Size       int64     `json:"size"`
	Step       int       `json:"step"`
	Generation int64     `json:"generation"`
	Created    time.Time `json:"created"`
}

// ConceptRecord is a concept bank entry's registry record.
type ConceptRecord struct {
	Name          string    `json:"name"`
	Object        string    `json:"object"`
	Digest        string    `json:"digest"`
	Size          int64     `json:"size"`
	ClassNoun     string    `json:"class_noun"`
	ModifierToken string    `json:"modifier_token"`
	NTok          int       `json:"n_tok"`
	BaseModelID   string    `json:"base_model_id"`
	JobID         string    `json:"job_id,omitempty"`
	Recipe        string    `json:"recipe,omitempty"`
	Created       time.Time `json:"created"`
	// Places the entry holds rows for (EntryInfo.Places); 0 in records written before
	// the per-place extension, which hold 1.
	Places int `json:"places,omitempty"`
}

// MarshalJob encodes a job record.
func MarshalJob(j *pb.Job) (string, error) {
	b, err := protojson.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("encode job %s: %w", j.GetId(), err)
	}
	return string(b), nil
}

// UnmarshalJob decodes a job record.
func UnmarshalJob(b []byte) (*pb.Job, error) {
	j := &pb.Job{}
	if err := protojson.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("decode job record: %w", err)
	}
	if j.Status == nil {
		j.Status = &pb.JobStatus{}
	}
	return j, nil
}

// GetJSON reads key into v; found is false when the key is absent. rev is the key's
// mod revision (for compare-and-swap).
func GetJSON(ctx context.Context, cli *clientv3.Client, key string, v any) (found bool, rev int64, err error) {
	resp, err := cli.Get(ctx, key)
	if err != nil {
		return false, 0, fmt.Errorf("etcd get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return false, 0, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, v); err != nil {
		return false, 0, fmt.Errorf("decode %s: %w", key, err)
	}
	return true, resp.Kvs[0].ModRevision, nil
}

// MustJSON encodes v, which never fails for the record types above.
func MustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", v, err))
	}
	return string(b)
}

// Terminal reports whether a job in state s has ended.
func Terminal(s pb.JobState) bool {
	return s == pb.JobState_JOB_STATE_DONE || s == pb.JobState_JOB_STATE_FAILED || s == pb.JobState_JOB_STATE_CANCELLED
}

// OpenBuckets creates (or opens) every bucket of Buckets.
func OpenBuckets(ctx context.Context, js jetstream.JetStream) (map[string]jetstream.ObjectStore, error) {
	out := map[string]jetstream.ObjectStore{}
	for _, b := range Buckets {
		os, err := js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: b})
		if err != nil {
			return nil, fmt.Errorf("object store bucket %q: %w", b, err)
		}
		out[b] = os
	}
	return out, nil
}
