package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/latexblend/latexblend/coordinator"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
)

func init() { subcommands = append(subcommands, newJobsCmd) }

// coordinatorConn dials the coordinator named by --coordinator, or the one found
// through --etcd (the leader, else any replica), or the dev cluster's.
func coordinatorConn(ctx context.Context, f *clientFlags) (pb.CoordinatorClient, *grpc.ClientConn, error) {
	if err := f.resolve(); err != nil {
		return nil, nil, err
	}
	addr := f.coordinator
	if addr == "" {
		cli, err := service.NewEtcdClient(ctx, f.etcd, 5*time.Second)
		if err != nil {
			return nil, nil, err
		}
		addr, err = coordinator.FindCoordinator(ctx, cli)
		cli.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	conn, err := service.Dial(addr, f.clientConfig(nil))
	if err != nil {
		return nil, nil, err
	}
	return pb.NewCoordinatorClient(conn), conn, nil
}

// withCoordinator runs fn with a client of the coordinator and closes it afterwards.
func withCoordinator(cmd *cobra.Command, f *clientFlags, fn func(ctx context.Context, api pb.CoordinatorClient) error) error {
	ctx := cmd.Context()
	api, conn, err := coordinatorConn(ctx, f)
	if err != nil {
		return err
	}
	defer conn.Close()
	return fn(ctx, api)
}

func newJobsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, inspect, cancel and delete concept onboarding jobs",
	}
	cmd.AddCommand(newJobsLsCmd(), newJobsShowCmd(), newJobsWatchCmd(), newJobsCancelCmd(), newJobsRmCmd())
	return cmd
}

func parseJobState(s string) (pb.JobState, error) {
	v, ok := pb.JobState_value["JOB_STATE_"+strings.ToUpper(s)]
	if !ok || v == 0 {
		return 0, fmt.Errorf("--state %q: want pending, running, done, failed or cancelled", s)
	}
	return pb.JobState(v), nil
}

func jobStateName(s pb.JobState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "JOB_STATE_"))
}

func newJobsLsCmd() *cobra.Command {
	var (
		f      clientFlags
		list   listFlags
		states []string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.ListJobsRequest{PageSize: list.pageSize}
			for _, s := range states {
				st, err := parseJobState(s)
				if err != nil {
					return err
				}
				req.States = append(req.States, st)
			}
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				jobs, err := allPages(func(token string) ([]*pb.Job, string, error) {
					req.PageToken = token
					resp, err := api.ListJobs(ctx, req)
					return resp.GetJobs(), resp.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				if list.json {
					return writeJSONLines(cmd.OutOrStdout(), jobs...)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tCONCEPT\tCLASS\tWORKERS\tSTEP\tLOSS\tGEN\tCREATED")
				for _, j := range jobs {
					st := j.Status
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%.4g\t%d\t%s\n", j.Id, jobStateName(st.State), j.Spec.ConceptName,
						j.Spec.ClassNoun, j.Spec.Workers, st.Step, st.TotalSteps, st.Loss, st.Generation,
						st.Created.AsTime().Local().Format(time.DateTime))
				}
				tw.Flush()
				fmt.Fprintf(cmd.OutOrStdout(), "jobs=%d\n", len(jobs))
				return nil
			})
		},
	}
	f.register(cmd)
	list.register(cmd, "jobs")
	cmd.Flags().StringSliceVar(&states, "state", nil, "only jobs in these states (pending, running, done, failed, cancelled)")
	return cmd
}

// printJobDetails writes a job as key: value lines.
func printJobDetails(w io.Writer, j *pb.Job) {
	st, sp := j.Status, j.Spec
	fmt.Fprintf(w, "id:              %s\n", j.Id)
	fmt.Fprintf(w, "state:           %s\n", jobStateName(st.State))
	fmt.Fprintf(w, "concept:         %s (class %q, token %s)\n", sp.ConceptName, sp.ClassNoun, sp.ModifierToken)
	fmt.Fprintf(w, "images:          %d instance, %d regularization (upload %s)\n", len(sp.InstanceImages), len(sp.RegularizationImages), sp.UploadId)
	fmt.Fprintf(w, "recipe:          steps=%d lr=%g batch=%d workers=%d checkpoint_every=%d seed=%d%s\n",
		sp.Steps, sp.LearningRate, sp.BatchSize, sp.Workers, sp.CheckpointEvery, sp.Seed, recipeFlags(sp))
	fmt.Fprintf(w, "entry:           %s\n", entryPlan(sp))
	fmt.Fprintf(w, "base model:      %s\n", orDash(sp.BaseModelId))
	fmt.Fprintf(w, "progress:        step %d/%d loss %.4g (avg %.4g) %.2f steps/s, checkpoint at %d\n",
		st.Step, st.TotalSteps, st.Loss, st.LossAvg, st.StepsPerSec, st.CheckpointStep)
	fmt.Fprintf(w, "generation:      %d\n", st.Generation)
	if len(st.TrainerIds) > 0 {
		fmt.Fprintf(w, "trainers:        %s\n", strings.Join(st.TrainerIds, " "))
	}
	if st.State == pb.JobState_JOB_STATE_PENDING {
		fmt.Fprintf(w, "queue position:  %d\n", st.QueuePosition)
	}
	if st.FailureReason != "" {
		fmt.Fprintf(w, "reason:          %s\n", st.FailureReason)
	}
	if st.ConceptDigest != "" {
		fmt.Fprintf(w, "produced:        %s %s\n", st.ConceptName, st.ConceptDigest)
	}
	fmt.Fprintf(w, "created:         %s\n", st.Created.AsTime().Local().Format(time.DateTime))
	if st.Finished != nil {
		fmt.Fprintf(w, "finished:        %s\n", st.Finished.AsTime().Local().Format(time.DateTime))
	}
}

// recipeFlags names a spec's boolean recipe switches that are on, each after a space.
func recipeFlags(sp *pb.ConceptJobSpec) string {
	var b strings.Builder
	for _, f := range []struct {
		on   bool
		name string
	}{{sp.ScaleLr, "scale_lr"}, {sp.NoBaseFlow, "no_base_flow"}, {sp.TokenOnly, "token_only"}} {
		if f.on {
			b.WriteString(" " + f.name)
		}
	}
	return b.String()
}

// entryPlan says how a job's bank entry is extracted: its prompt and its places.
func entryPlan(sp *pb.ConceptJobSpec) string {
	s := fmt.Sprintf("from %q", sp.ExtractPrompt)
	if sp.Places > 1 {
		s += fmt.Sprintf(", %d places (after %s)", sp.Places, strings.Join(sp.PlaceFillers, ", "))
	}
	return s
}

func newJobsShowCmd() *cobra.Command {
	var (
		f   clientFlags
		out outputFlags
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job's spec and status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				resp, err := api.GetJob(ctx, &pb.GetJobRequest{JobId: args[0]})
				if err != nil {
					return err
				}
				if out.json {
					return writeJSONLines(cmd.OutOrStdout(), resp.Job)
				}
				printJobDetails(cmd.OutOrStdout(), resp.Job)
				return nil
			})
		},
	}
	f.register(cmd)
	out.register(cmd, "the job")
	return cmd
}

func newJobsWatchCmd() *cobra.Command {
	var (
		f          clientFlags
		noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job with a progress bar until it ends (as concept add --wait does)",
		Long: `Follow a job with a progress bar until it ends, as concept add --wait does: for a job
submitted without --wait, or after the terminal that waited went away. Ends with
job=… state=done concept=… digest=… steps=… generation=…, or fails when the job failed
or was cancelled. A job that has already ended prints its final state at once.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				out := cmd.OutOrStdout()
				return followJob(ctx, api, &f, args[0], out, !noProgress && writerIsTerminal(out))
			})
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "print one line per update instead of a progress bar (the default when stdout is not a terminal)")
	return cmd
}

func newJobsCancelCmd() *cobra.Command {
	var (
		f      clientFlags
		reason string
	)
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Stop a pending or running job and free its trainers",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				resp, err := api.CancelJob(ctx, &pb.CancelJobRequest{JobId: args[0], Reason: reason})
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job=%s state=%s\n", resp.Job.Id, jobStateName(resp.Job.Status.State))
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the job")
	return cmd
}

func newJobsRmCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "rm ID",
		Short: "Delete a finished job and its uploaded images (its concept stays in the bank)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				if _, err := api.DeleteJob(ctx, &pb.DeleteJobRequest{JobId: args[0]}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "job=%s deleted=true\n", args[0])
				return nil
			})
		},
	}
	f.register(cmd)
	return cmd
}
