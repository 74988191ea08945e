package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/coordinator"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

func init() { subcommands = append(subcommands, newStatusCmd) }

func newStatusCmd() *cobra.Command {
	var (
		f       clientFlags
		asJSON  bool
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "List the cluster's live members and its leader coordinator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.resolve(); err != nil {
				return err
			}
			ctx := cmd.Context()
			var (
				members []service.Member
				leader  string
				err     error
			)
			if len(f.etcd) > 0 {
				members, leader, err = statusFromEtcd(ctx, f.etcd, timeout)
			} else {
				members, leader, err = statusFromCoordinator(ctx, f, timeout)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Leader  string           `json:"leader"`
					Members []service.Member `json:"members"`
				}{leader, members})
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROLE\tID\tADDRESS\tCAPACITY\tQUEUE\tVERSION\tBASE MODEL\tUP")
			for _, m := range members {
				role := string(m.Role)
				if m.Role == service.RoleCoordinator && m.ID == leader {
					role += "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", role, m.ID, orDash(m.Address), m.Capacity, m.QueueDepth,
					m.Version, baseModel(m), time.Since(m.Started).Round(time.Second))
			}
			tw.Flush()
			fmt.Fprintf(out, "members=%d leader=%s\n", len(members), orDash(leader))
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "etcd connection timeout")
	return cmd
}

func statusFromEtcd(ctx context.Context, endpoints []string, timeout time.Duration) ([]service.Member, string, error) {
	cli, err := service.NewEtcdClient(ctx, endpoints, timeout)
	if err != nil {
		return nil, "", err
	}
	defer cli.Close()
	members, err := service.ListMembers(ctx, cli)
	if err != nil {
		return nil, "", err
	}
	leader, err := coordinator.Leader(ctx, cli)
	return members, leader, err
}

func statusFromCoordinator(ctx context.Context, f clientFlags, timeout time.Duration) ([]service.Member, string, error) {
	conn, err := service.Dial(f.coordinator, f.clientConfig(nil))
	if err != nil {
		return nil, "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	st, err := pb.NewCoordinatorClient(conn).ClusterStatus(ctx, &pb.ClusterStatusRequest{})
	if err != nil {
		return nil, "", fmt.Errorf("coordinator %s: %w", f.coordinator, err)
	}
	members := make([]service.Member, 0, len(st.Members))
	for _, m := range st.Members {
		members = append(members, coordinator.MemberFromProto(m))
	}
	return members, st.LeaderId, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func baseModel(m service.Member) string {
	if m.BaseModelID == "" {
		return "-"
	}
	id := m.BaseModelID
	if len(id) > 12 {
		id = id[:12]
	}
	if m.BaseModel != "" {
		return m.BaseModel + "@" + id
	}
	return id
}
