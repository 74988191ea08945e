package coordinator_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/devcluster"
	"github.com/latexblend/latexblend/internal/leakcheck"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

func TestMain(m *testing.M) { leakcheck.VerifyTestMain(m) }

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

func TestLeaderElectionAndClusterStatus(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	c, err := devcluster.Start(ctx, devcluster.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var cos []*coordinator.Coordinator
	for range 2 {
		co, err := coordinator.New(coordinator.Config{
			Node:        service.Config{EtcdEndpoints: c.EtcdEndpoints, GRPC: &service.GRPCConfig{Token: "tok"}},
			ElectionTTL: 2 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := co.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer co.Close()
		cos = append(cos, co)
	}
	leaders := func() (n int, id string) {
		for _, co := range cos {
			if co.IsLeader() {
				n, id = n+1, co.Node().ID()
			}
		}
		return
	}
	waitFor(t, 10*time.Second, func() error {
		if n, _ := leaders(); n != 1 {
			return fmt.Errorf("%d leaders", n)
		}
		return nil
	})
	_, leaderID := leaders()

	conn, err := service.Dial(cos[1].Addr(), service.ClientConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := pb.NewCoordinatorClient(conn).ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderId != leaderID || len(st.Members) != 2 || st.LeaderAddress == "" {
		t.Fatalf("ClusterStatus = %+v, want leader %s and 2 members", st, leaderID)
	}

	// The leader resigns on Close; the standby takes over.
	var standby *coordinator.Coordinator
	for _, co := range cos {
		if co.Node().ID() == leaderID {
			co.Close()
		} else {
			standby = co
		}
	}
	waitFor(t, 10*time.Second, func() error {
		if !standby.IsLeader() {
			return fmt.Errorf("standby %s not leader", standby.Node().ID())
		}
		return nil
	})
	// Ask the standby itself: the first connection may have gone to the
	// leader that just closed, which is what made this test flaky.
	standbyConn, err := service.Dial(standby.Addr(), service.ClientConfig{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	defer standbyConn.Close()
	st, err = pb.NewCoordinatorClient(standbyConn).ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderId != standby.Node().ID() || len(st.Members) != 1 {
		t.Fatalf("after failover ClusterStatus = %+v", st)
	}
}
