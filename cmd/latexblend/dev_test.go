package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for one writer goroutine and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func run(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestDevThenStatus runs `latexblend dev` in-process, then `latexblend status` with no
// flags (it must find the cluster through the endpoints file), then stops dev as Ctrl-C
// would and checks the endpoints file is gone.
func TestDevThenStatus(t *testing.T) {
	t.Setenv(devcluster.HomeEnv, t.TempDir())
	path, err := devcluster.EndpointsPath()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(t.Context(), "status"); err == nil || !strings.Contains(err.Error(), "no dev cluster is running") {
		t.Fatalf("status without a cluster: %v\n%s", err, out)
	}

	devCtx, stopDev := context.WithCancel(t.Context())
	var devOut syncBuffer
	devDone := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetArgs([]string{"dev", "--trainers", "2", "--samplers", "1", "--log-level", "error"})
		root.SetOut(&devOut)
		root.SetErr(&devOut)
		devDone <- root.ExecuteContext(devCtx)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(devOut.String(), "dev cluster ready") {
		select {
		case err := <-devDone:
			t.Fatalf("dev exited early: %v\n%s", err, devOut.String())
		default:
		}
		if time.Now().After(deadline) {
			stopDev()
			t.Fatalf("dev not ready:\n%s", devOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	e, err := devcluster.ReadEndpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	if e.Token == "" || e.Coordinator == "" || len(e.Samplers) != 1 {
		t.Fatalf("endpoints file incomplete: %+v", e)
	}

	// A second dev cluster is refused while the first runs.
	if _, err := run(t.Context(), "dev"); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second dev: %v", err)
	}

	out, err := run(t.Context(), "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if got := strings.Count(out, "\ntrainer "); got != 2 {
		t.Errorf("status lists %d trainers, want 2:\n%s", got, out)
	}
	if !strings.Contains(out, "coordinator*") || !strings.Contains(out, "\nsampler ") || !strings.Contains(out, "members=4 ") {
		t.Errorf("status output:\n%s", out)
	}
	// Through the coordinator's API instead of etcd.
	out, err = run(t.Context(), "status", "--coordinator", e.Coordinator, "--token", e.Token)
	if err != nil || !strings.Contains(out, "members=4 ") {
		t.Errorf("status --coordinator: %v\n%s", err, out)
	}
	out, err = run(t.Context(), "status", "--coordinator", e.Coordinator, "--token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("status with a wrong token: %v\n%s", err, out)
	}

	stopDev()
	select {
	case err := <-devDone:
		if err != nil {
			t.Fatalf("dev: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not shut down within 30s")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("endpoints file left behind: %v", err)
	}
	if !strings.Contains(devOut.String(), "dev cluster stopped") {
		t.Errorf("dev output:\n%s", devOut.String())
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t.Context(), "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"latexblend ", "go go1.", "blas "} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}
