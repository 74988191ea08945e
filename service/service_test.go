package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/service"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startCluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // registered first, so it runs after every node's Close
	return c
}

func startNode(t *testing.T, cfg service.Config, register func(*grpc.Server)) *service.Node {
	t.Helper()
	n, err := service.NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if register != nil {
		register(n.GRPC.Server)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func waitFor(t *testing.T, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct {
		name string
		cfg  service.Config
		want string
	}{
		{"bad role", service.Config{Role: "painter", EtcdEndpoints: []string{"x"}}, `role "painter"`},
		{"no etcd", service.Config{Role: service.RoleTrainer}, "etcd endpoints are required"},
		{"ttl too short", service.Config{Role: service.RoleTrainer, EtcdEndpoints: []string{"x"}, MemberTTL: time.Second}, "below etcd's 2s minimum"},
		{"negative capacity", service.Config{Role: service.RoleSampler, EtcdEndpoints: []string{"x"}, Capacity: -1}, "capacity -1"},
		{"bad addr", service.Config{Role: service.RoleSampler, EtcdEndpoints: []string{"x"}, GRPC: &service.GRPCConfig{Addr: "nope"}}, `grpc address "nope"`},
		{"cert without key", service.Config{Role: service.RoleSampler, EtcdEndpoints: []string{"x"}, GRPC: &service.GRPCConfig{TLS: service.TLSConfig{CertFile: "c.pem"}}}, "must be given together"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
	ok := service.Config{Role: service.RoleTrainer, EtcdEndpoints: []string{"http://127.0.0.1:2379"}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(ok.ID) != 26 {
		t.Fatalf("default id %q is not a 26-character ULID", ok.ID)
	}
}

func TestMembersRegisterAndDeregister(t *testing.T) {
	c := startCluster(t)
	var nodes []*service.Node
	for _, role := range service.Roles {
		cfg := service.Config{Role: role, EtcdEndpoints: c.EtcdEndpoints, Version: "test", BaseModelID: "model-" + string(role)}
		if role != service.RoleTrainer {
			cfg.GRPC = &service.GRPCConfig{}
		}
		nodes = append(nodes, startNode(t, cfg, nil))
	}
	cli, err := service.NewEtcdClient(t.Context(), c.EtcdEndpoints, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	members, err := service.ListMembers(t.Context(), cli)
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 3 {
		t.Fatalf("want 3 members, got %+v", members)
	}
	for i, m := range members {
		n := nodes[i]
		if m.ID != n.ID() || m.Role != n.Role() || m.Version != "test" || m.BaseModelID != "model-"+string(n.Role()) {
			t.Errorf("member %d = %+v, want id %s role %s", i, m, n.ID(), n.Role())
		}
		if (n.GRPC != nil) != (m.Address != "") {
			t.Errorf("member %s address %q, serving=%v", m.ID, m.Address, n.GRPC != nil)
		}
	}
	// Update rewrites the record under the same lease.
	if err := nodes[2].Registration().Update(t.Context(), func(m *service.Member) { m.QueueDepth = 7 }); err != nil {
		t.Fatal(err)
	}
	got, _ := service.ListMembers(t.Context(), cli, service.RoleSampler)
	if len(got) != 1 || got[0].QueueDepth != 7 {
		t.Fatalf("queue depth not updated: %+v", got)
	}
	// Close deregisters at once.
	nodes[0].Close()
	got, _ = service.ListMembers(t.Context(), cli, service.RoleCoordinator)
	if len(got) != 0 {
		t.Fatalf("coordinator still registered after Close: %+v", got)
	}
}

func TestCrashedMemberExpiresAfterTTL(t *testing.T) {
	c := startCluster(t)
	n := startNode(t, service.Config{Role: service.RoleTrainer, EtcdEndpoints: c.EtcdEndpoints, MemberTTL: 2 * time.Second}, nil)
	cli, err := service.NewEtcdClient(t.Context(), c.EtcdEndpoints, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	crashed := time.Now()
	n.Crash()
	// Still there right after the crash: nobody deregistered it.
	got, _ := service.ListMembers(t.Context(), cli, service.RoleTrainer)
	if len(got) != 1 {
		t.Fatalf("record vanished before its lease expired: %+v", got)
	}
	waitFor(t, 10*time.Second, func() error {
		got, err := service.ListMembers(t.Context(), cli, service.RoleTrainer)
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("still %d trainers", len(got))
		}
		return nil
	})
	if d := time.Since(crashed); d < time.Second {
		t.Fatalf("record vanished after %s, before the 2s TTL could expire", d)
	}
}

func TestPrefixScanDoesNotMatchLongerIDs(t *testing.T) {
	if service.RolePrefix(service.RoleTrainer) != "/latexblend/members/trainer/" {
		t.Fatalf("prefix %q", service.RolePrefix(service.RoleTrainer))
	}
	a, b := service.NewID(), service.NewID()
	if len(a) != len(b) || a >= b {
		t.Fatalf("ids not fixed-width and ordered: %q %q", a, b)
	}
}

// testService is a hand-written gRPC service (no generated code needed) with one method
// that succeeds and one that panics.
type testService struct{ calls atomic.Int64 }

func (s *testService) register(srv *grpc.Server) {
	handler := func(method string, panics bool) grpc.MethodHandler {
		return func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(ctx context.Context, req any) (any, error) {
				s.calls.Add(1)
				if panics {
					panic("boom")
				}
				return &emptypb.Empty{}, nil
			}
			info := &grpc.UnaryServerInfo{Server: s, FullMethod: "/latexblend.test.Echo/" + method}
			return ic(ctx, in, info, h)
		}
	}
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "latexblend.test.Echo",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Ok", Handler: handler("Ok", false)},
			{MethodName: "Panic", Handler: handler("Panic", true)},
		},
	}, s)
}

func TestAuthRecoveryHealthAndMetrics(t *testing.T) {
	c := startCluster(t)
	ts := &testService{}
	n := startNode(t, service.Config{
		Role: service.RoleSampler, EtcdEndpoints: c.EtcdEndpoints,
		GRPC: &service.GRPCConfig{Token: "s3cret", MetricsAddr: "127.0.0.1:0"},
	}, ts.register)

	call := func(token, method string) error {
		conn, err := service.Dial(n.GRPC.Addr(), service.ClientConfig{Token: token})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		return conn.Invoke(ctx, "/latexblend.test.Echo/"+method, &emptypb.Empty{}, &emptypb.Empty{})
	}
	for _, tc := range []struct {
		name, token, method string
		want                codes.Code
	}{
		{"no token", "", "Ok", codes.Unauthenticated},
		{"wrong token", "guess", "Ok", codes.Unauthenticated},
		{"right token", "s3cret", "Ok", codes.OK},
		{"panic", "s3cret", "Panic", codes.Internal},
		{"after panic", "s3cret", "Ok", codes.OK},
	} {
		if got := status.Code(call(tc.token, tc.method)); got != tc.want {
			t.Errorf("%s: code %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := ts.calls.Load(); got != 3 {
		t.Errorf("handler ran %d times, want 3 (unauthenticated calls must not reach it)", got)
	}

	// Health needs no token.
	conn, err := service.Dial(n.GRPC.Addr(), service.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := grpc_health_v1.NewHealthClient(conn).Check(t.Context(), &grpc_health_v1.HealthCheckRequest{})
	if err != nil || resp.Status != grpc_health_v1.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", resp, err)
	}

	// Metrics count the calls per code.
	res, err := http.Get("http://" + n.GRPC.MetricsAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="Unauthenticated",grpc_method="Ok",grpc_service="latexblend.test.Echo",grpc_type="unary"} 2`,
		`grpc_server_handled_total{grpc_code="Internal",grpc_method="Panic",grpc_service="latexblend.test.Echo",grpc_type="unary"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want codes.Code
	}{
		{fmt.Errorf("concept %q: %w", "x", service.ErrNotFound), codes.NotFound},
		{fmt.Errorf("steps 0: %w", service.ErrInvalidArgument), codes.InvalidArgument},
		{service.ErrQueueFull, codes.ResourceExhausted},
		{errors.New("disk on fire"), codes.Internal},
		{status.Error(codes.Aborted, "x"), codes.Aborted},
	} {
		st := service.ToStatus(tc.err)
		if status.Code(st) != tc.want {
			t.Errorf("ToStatus(%v) = %v, want %v", tc.err, status.Code(st), tc.want)
		}
	}
	back := service.FromStatus(status.Error(codes.NotFound, "concept x: not found"))
	if !errors.Is(back, service.ErrNotFound) || back.Error() != "concept x: not found" {
		t.Fatalf("FromStatus lost the sentinel or message: %v", back)
	}
}
