package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latexblend/latexblend/allreduce"
	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/model/safetensors"
	"github.com/latexblend/latexblend/trainer"
)

// stepRunner is a stand-in trainer.JobRunner for the CLI test (not the Custom Diffusion
// trainer): every step all-reduces a counter over the gang's ring and reports progress;
// rank 0 returns a small valid concept entry.
func stepRunner(t *testing.T) trainer.JobRunner { return slowStepRunner(t, 5*time.Millisecond, nil) }

// slowStepRunner is stepRunner with a per-step delay and a hook called after each step.
func slowStepRunner(t *testing.T, delay time.Duration, onStep func(step int)) trainer.JobRunner {
	return trainer.JobRunnerFunc(func(ctx context.Context, job *trainer.JobContext) (*trainer.Result, error) {
		start, _, err := job.Checkpoints.Load(ctx)
		if err != nil {
			return nil, err
		}
		for step := start + 1; step <= int(job.Spec.Steps); step++ {
			v := []float32{float32(step)}
			if err := job.Ring.AllReduce(ctx, allreduce.Mean, v); err != nil {
				return nil, err
			}
			job.Progress.Report(step, 1/v[0])
			if onStep != nil {
				onStep(step)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(delay):
			}
		}
		if job.Rank != 0 {
			return nil, nil
		}
		path := filepath.Join(t.TempDir(), "entry.safetensors")
		err = safetensors.WriteFile(path, []safetensors.Tensor{
			{Name: "mid_block.attn2.k", Shape: []int{2, 2}, F32: []float32{1, 2, 3, 4}},
			{Name: "mid_block.attn2.v", Shape: []int{2, 2}, F32: []float32{4, 3, 2, 1}},
		}, map[string]string{trainer.EntryKeyFormat: trainer.EntryFormat, trainer.EntryKeyClassNoun: job.Spec.ClassNoun,
			trainer.EntryKeyModifier: job.Spec.ModifierToken, trainer.EntryKeyNTok: "2", trainer.EntryKeyBaseModelID: job.BaseModelID})
		if err != nil {
			return nil, err
		}
		b, err := os.ReadFile(path)
		return &trainer.Result{Entry: b}, err
	})
}

// TestConceptAndJobsCommands drives the user's commands against a dev stack found
// through the endpoints file: concept add --wait trains on a gang of two, then the bank
// and job commands list, show, download, import, delete.
func TestConceptAndJobsCommands(t *testing.T) {
	home := t.TempDir()
	t.Setenv(devcluster.HomeEnv, home)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	st, err := devstack.Start(ctx, devstack.Config{Trainers: 2, Runner: stepRunner(t), BaseModelID: "cli-test-model"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path, err := devcluster.EndpointsPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := devcluster.WriteEndpoints(path, st.Endpoints()); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(home, "images")
	os.MkdirAll(images, 0o755)
	for _, name := range []string{"a.png", "b.png", "c.png"} {
		var buf bytes.Buffer
		png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)))
		os.WriteFile(filepath.Join(images, name), buf.Bytes(), 0o644)
	}
	os.WriteFile(filepath.Join(images, "notes.md"), []byte("ignored"), 0o644)

	must := func(args ...string) string {
		t.Helper()
		out, err := run(ctx, args...)
		if err != nil {
			t.Fatalf("latexblend %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	out := must("concept", "add", "mydog", "--class", "dog", "--images", images, "--workers", "2", "--steps", "30", "--wait", "--no-progress")
	m := regexp.MustCompile(`job=(\S+) state=done concept=mydog digest=(sha256:[0-9a-f]{64}) steps=30 generation=1`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "images=3 reg=0 workers=2 steps=30") || !strings.Contains(out, "/30 loss") {
		t.Fatalf("concept add output:\n%s", out)
	}
	jobID, digest := m[1], m[2]

	if out := must("concept", "ls"); !strings.Contains(out, "mydog") || !strings.Contains(out, "concepts=1") {
		t.Errorf("concept ls:\n%s", out)
	}
	if out := must("concept", "show", "mydog"); !strings.Contains(out, digest) || !strings.Contains(out, jobID) || !strings.Contains(out, "places:      1\n") {
		t.Errorf("concept show:\n%s", out)
	}
	file := filepath.Join(home, "mydog.safetensors")
	if out := must("concept", "get", "mydog", "-o", file); !strings.Contains(out, "digest="+digest) {
		t.Errorf("concept get:\n%s", out)
	}
	// Through --etcd discovery instead of the endpoints file's coordinator address.
	out = must("concept", "import", file, "--name", "copy", "--etcd", strings.Join(st.Cluster.EtcdEndpoints, ","), "--token", st.Token)
	if !strings.Contains(out, "concept=copy") || !strings.Contains(out, digest) {
		t.Errorf("concept import:\n%s", out)
	}
	if _, err := run(ctx, "concept", "import", file, "--name", "copy"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("importing a taken name: %v", err)
	}
	if out := must("jobs", "ls"); !strings.Contains(out, jobID) || !strings.Contains(out, "done") || !strings.Contains(out, "jobs=1") {
		t.Errorf("jobs ls:\n%s", out)
	}
	if out := must("jobs", "show", jobID); !strings.Contains(out, "state:           done") ||
		!strings.Contains(out, `entry:           from "photo of <new1> dog"`+"\n") || strings.Contains(out, "token_only") {
		t.Errorf("jobs show:\n%s", out)
	}
	// The token-only and per-place options reach the job's spec. Submitted without
	// --wait, the job is followed to its end by jobs watch.
	out = must("concept", "add", "tokdog", "--class", "dog", "--images", images, "--steps", "2", "--lr", "5e-3",
		"--token-only", "--places", "3", "--fillers", "cat,cow")
	tokJob := regexp.MustCompile(`job=(\S+) concept=tokdog state=pending`).FindStringSubmatch(out)
	if tokJob == nil || strings.Contains(out, "state=done") {
		t.Fatalf("concept add --token-only --places without --wait:\n%s", out)
	}
	if out := must("jobs", "watch", tokJob[1], "--no-progress"); !strings.Contains(out, "job="+tokJob[1]+" state=done concept=tokdog digest=sha256:") ||
		!strings.Contains(out, "steps=2 generation=1") {
		t.Errorf("jobs watch:\n%s", out)
	}
	if _, err := run(ctx, "jobs", "watch", "01ARZ3NDEKTSV4RRFFQ69G5FAV"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("jobs watch of an unknown job: %v", err)
	}
	if out := must("jobs", "show", tokJob[1]); !strings.Contains(out, "seed=0 token_only\n") ||
		!strings.Contains(out, `entry:           from "photo of <new1> dog", 3 places (after cat, cow)`) {
		t.Errorf("jobs show of the token-only job:\n%s", out)
	}
	if _, err := run(ctx, "concept", "add", "baddog", "--class", "dog", "--images", images, "--places", "3", "--fillers", "cat"); err == nil ||
		!strings.Contains(err.Error(), "place_fillers") {
		t.Errorf("concept add with too few fillers: %v", err)
	}
	// Every page is listed, and --json gives the records whole.
	if out := must("concept", "ls", "--page-size", "1"); !strings.Contains(out, "mydog") || !strings.Contains(out, "copy") ||
		!strings.Contains(out, "tokdog") || !strings.Contains(out, "concepts=3") {
		t.Errorf("concept ls --page-size 1:\n%s", out)
	}
	if out := must("jobs", "ls", "--page-size", "1"); !strings.Contains(out, jobID) || !strings.Contains(out, tokJob[1]) || !strings.Contains(out, "jobs=2") {
		t.Errorf("jobs ls --page-size 1:\n%s", out)
	}
	if _, err := run(ctx, "jobs", "ls", "--page-size", "1001"); err == nil || !strings.Contains(err.Error(), "page_size") {
		t.Errorf("jobs ls --page-size 1001: %v", err)
	}
	type conceptJSON struct {
		Name   string `json:"name"`
		Digest string `json:"digest"`
		Places int    `json:"places"`
		JobID  string `json:"job_id"`
	}
	var listed []conceptJSON
	for _, line := range strings.Split(strings.TrimSpace(must("concept", "ls", "--json", "--page-size", "2")), "\n") {
		listed = append(listed, decodeJSON[conceptJSON](t, line))
	}
	if len(listed) != 3 || !slices.Contains(listed, conceptJSON{Name: "mydog", Digest: digest, Places: 1, JobID: jobID}) {
		t.Errorf("concept ls --json: %+v", listed)
	}
	type jobJSON struct {
		ID   string `json:"id"`
		Spec struct {
			TokenOnly    bool     `json:"token_only"`
			Places       int      `json:"places"`
			PlaceFillers []string `json:"place_fillers"`
		} `json:"spec"`
		Status struct {
			State string `json:"state"`
		} `json:"status"`
	}
	if j := decodeJSON[jobJSON](t, must("jobs", "show", tokJob[1], "--json")); j.ID != tokJob[1] || !j.Spec.TokenOnly || j.Spec.Places != 3 ||
		!slices.Equal(j.Spec.PlaceFillers, []string{"cat", "cow"}) || j.Status.State != "JOB_STATE_DONE" {
		t.Errorf("jobs show --json: %+v", j)
	}
	if c := decodeJSON[conceptJSON](t, must("concept", "show", "tokdog", "--json")); c.Name != "tokdog" || c.JobID != tokJob[1] {
		t.Errorf("concept show --json: %+v", c)
	}
	must("jobs", "rm", tokJob[1])
	must("concept", "rm", "tokdog")
	if out := must("jobs", "cancel", jobID); !strings.Contains(out, "state=done") {
		t.Errorf("jobs cancel of a done job:\n%s", out)
	}
	must("jobs", "rm", jobID)
	if _, err := run(ctx, "jobs", "show", jobID); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("jobs show after rm: %v", err)
	}
	must("concept", "rm", "mydog")
	if out := must("concept", "ls"); strings.Contains(out, "mydog") || !strings.Contains(out, "concepts=1") {
		t.Errorf("concept ls after rm:\n%s", out)
	}
	if _, err := run(ctx, "concept", "add", "bad name", "--class", "dog", "--images", images); err == nil || !strings.Contains(err.Error(), "concept_name") {
		t.Errorf("concept add with a bad name: %v", err)
	}
}

// TestConceptAddWaitSurvivesCoordinatorLoss kills the coordinator that `concept add
// --wait` is watching through; the command finds the other replica through etcd and
// follows the job to its end.
func TestConceptAddWaitSurvivesCoordinatorLoss(t *testing.T) {
	home := t.TempDir()
	t.Setenv(devcluster.HomeEnv, home)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var once sync.Once
	step20 := make(chan struct{})
	reached := func(step int) {
		if step >= 20 {
			once.Do(func() { close(step20) })
		}
	}
	st, err := devstack.Start(ctx, devstack.Config{Coordinators: 2, Trainers: 1, MemberTTL: 2 * time.Second,
		Runner: slowStepRunner(t, 15*time.Millisecond, reached), BaseModelID: "cli-test-model"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	crashed := make(chan struct{})
	go func() {
		defer close(crashed)
		select {
		case <-step20:
			st.Coordinators[0].Crash()
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(); <-crashed }()
	path, err := devcluster.EndpointsPath()
	if err != nil {
		t.Fatal(err)
	}
	if err := devcluster.WriteEndpoints(path, st.Endpoints()); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(home, "images")
	os.MkdirAll(images, 0o755)
	var buf bytes.Buffer
	png.Encode(&buf, image.NewGray(image.Rect(0, 0, 8, 8)))
	os.WriteFile(filepath.Join(images, "a.png"), buf.Bytes(), 0o644)

	out, err := run(ctx, "concept", "add", "survivor", "--class", "dog", "--images", images, "--steps", "400", "--wait")
	if err != nil {
		t.Fatalf("concept add --wait: %v\n%s", err, out)
	}
	if !strings.Contains(out, "lost the coordinator") || !strings.Contains(out, "state=done concept=survivor") {
		t.Errorf("output does not show the reconnection and the end:\n%s", out)
	}
}

// decodeJSON parses one JSON object of a --json output into a T.
func decodeJSON[T any](t *testing.T, line string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, line)
	}
	return v
}
