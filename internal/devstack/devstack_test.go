package devstack_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/latexblend/latexblend/internal/devstack"
	"github.com/latexblend/latexblend/internal/golden"
	"github.com/latexblend/latexblend/internal/leakcheck"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

// TestStackBootsEveryRole boots the devcluster with one coordinator, two trainers and two
// samplers (on the tiny reference model when ../shared/golden is present) and checks that
// every member is visible in etcd and through the coordinator's API.
func TestStackBootsEveryRole(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cfg := devstack.Config{Trainers: 2, Samplers: 2, Version: "test"}
	if dir, ok := golden.Find(); ok {
		cfg.ModelDir = dir + "/tiny-sdxl"
	}
	st, err := devstack.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	cli, err := service.NewEtcdClient(ctx, st.Cluster.EtcdEndpoints, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	members, err := service.ListMembers(ctx, cli)
	if err != nil {
		t.Fatal(err)
	}
	count := map[service.Role]int{}
	for _, m := range members {
		count[m.Role]++
		if m.Role != service.RoleCoordinator && cfg.ModelDir != "" && len(m.BaseModelID) != 64 {
			t.Errorf("%s %s has base model id %q, want a sha256 hex digest", m.Role, m.ID, m.BaseModelID)
		}
	}
	if count[service.RoleCoordinator] != 1 || count[service.RoleTrainer] != 2 || count[service.RoleSampler] != 2 {
		t.Fatalf("members by role = %v, want 1/2/2", count)
	}

	conn, err := service.Dial(st.Coordinator.Addr(), service.ClientConfig{Token: st.Token})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var resp *pb.ClusterStatusResponse
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err = pb.NewCoordinatorClient(conn).ClusterStatus(ctx, &pb.ClusterStatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.LeaderId != "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(resp.Members) != 5 || resp.LeaderId != st.Coordinator.Node().ID() {
		t.Fatalf("ClusterStatus: %d members, leader %q; want 5 and %s", len(resp.Members), resp.LeaderId, st.Coordinator.Node().ID())
	}

	// The token is required; health is exempt and samplers with a model report SERVING
	// (without one they stay NOT_SERVING).
	bare, err := service.Dial(st.Samplers[0].Addr(), service.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	h, err := grpc_health_v1.NewHealthClient(bare).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	wantHealth := grpc_health_v1.HealthCheckResponse_SERVING
	if cfg.ModelDir == "" {
		wantHealth = grpc_health_v1.HealthCheckResponse_NOT_SERVING
	}
	if err != nil || h.Status != wantHealth {
		t.Fatalf("sampler health: %v %v", h, err)
	}
	noTok, err := service.Dial(st.Coordinator.Addr(), service.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer noTok.Close()
	_, err = pb.NewCoordinatorClient(noTok).ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("ClusterStatus without token: %v, want Unauthenticated", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []devstack.Config{{Trainers: -1}, {Samplers: 65}, {ModelDir: "/does/not/exist"}} {
		if err := tc.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", tc)
		}
	}
}
