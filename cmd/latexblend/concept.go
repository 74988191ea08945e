package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/latexblend/latexblend/coordinator"
	"github.com/latexblend/latexblend/devcluster"
	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/trainer"
)

func init() { subcommands = append(subcommands, newConceptCmd) }

func newConceptCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "concept",
		Short: "Onboard concepts and manage the shared concept bank",
	}
	cmd.AddCommand(newConceptAddCmd(), newConceptLsCmd(), newConceptShowCmd(), newConceptRmCmd(),
		newConceptGetCmd(), newConceptImportCmd())
	return cmd
}

// readConceptImages loads the PNG and JPEG files of dir in name order; a same-name .txt file
// is the image's caption.
func readConceptImages(dir string) ([]coordinator.ImageFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	var out []coordinator.ImageFile
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".png" && ext != ".jpg" && ext != ".jpeg") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", path, err)
		}
		img := coordinator.ImageFile{Name: e.Name(), Data: b}
		if c, err := os.ReadFile(strings.TrimSuffix(path, filepath.Ext(path)) + ".txt"); err == nil {
			img.Caption = strings.TrimSpace(string(c))
		}
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("images: %s holds no .png, .jpg or .jpeg files", dir)
	}
	return out, nil
}

// uploadNATSURL is --nats, else the dev cluster's NATS server.
func uploadNATSURL(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	path, err := devcluster.EndpointsPath()
	if err != nil {
		return "", err
	}
	e, err := devcluster.ReadEndpoints(path)
	if err != nil {
		return "", fmt.Errorf("--nats not given (the images are uploaded to the NATS object store) and %w", err)
	}
	return e.NATS, nil
}

func newConceptAddCmd() *cobra.Command {
	var (
		f                clientFlags
		natsFlag         string
		images, reg      string
		s                pb.ConceptJobSpec
		templates        []string
		wait, noProgress bool
	)
	cmd := &cobra.Command{
		Use:   "add NAME --class NOUN --images DIR",
		Short: "Upload a concept's images and submit a training job (with --wait, follow it to the end)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s.ConceptName, s.Templates = args[0], templates
			inst, err := readConceptImages(images)
			if err != nil {
				return err
			}
			var regImgs []coordinator.ImageFile
			if reg != "" {
				if regImgs, err = readConceptImages(reg); err != nil {
					return err
				}
			} else {
				fmt.Fprintln(cmd.ErrOrStderr(), "no --reg images: prior preservation is off (instance loss only)")
			}
			url, err := uploadNATSURL(natsFlag)
			if err != nil {
				return err
			}
			nc, err := nats.Connect(url, nats.Name("latexblend-cli"))
			if err != nil {
				return fmt.Errorf("NATS %s: %w", url, err)
			}
			defer nc.Close()
			js, err := jetstream.New(nc)
			if err != nil {
				return err
			}
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				datasets, err := coordinator.OpenDatasets(ctx, js)
				if err != nil {
					return err
				}
				job, err := coordinator.Submit(ctx, api, datasets, &s, inst, regImgs)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				fmt.Fprintf(out, "job=%s concept=%s state=%s images=%d reg=%d workers=%d steps=%d\n", job.Id, s.ConceptName,
					jobStateName(job.Status.State), len(inst), len(regImgs), job.Spec.Workers, job.Spec.Steps)
				if !wait {
					fmt.Fprintf(cmd.ErrOrStderr(), "follow it with: latexblend jobs watch %s\n", job.Id)
					return nil
				}
				return followJob(ctx, api, &f, job.Id, out, !noProgress && writerIsTerminal(out))
			})
		},
	}
	f.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&natsFlag, "nats", "", "NATS server for the image upload (default: the dev cluster's)")
	fl.StringVar(&s.ClassNoun, "class", "", "class noun of the concept, e.g. dog (required)")
	fl.StringVar(&images, "images", "", "folder of the concept's images, PNG or JPEG (required)")
	fl.StringVar(&reg, "reg", "", "folder of regularization images of the bare class (same-name .txt files are captions)")
	fl.Int32Var(&s.Workers, "workers", 0, "trainers that train the job together (default 1)")
	fl.Int32Var(&s.Steps, "steps", 0, fmt.Sprintf("optimizer steps (default %d)", pb.DefaultTrainSteps))
	fl.StringVar(&s.ModifierToken, "modifier-token", "", `modifier token (default "`+pb.DefaultModifierToken+`")`)
	fl.StringVar(&s.InitToken, "init-token", "", `token initialising the modifier (default "`+pb.DefaultInitToken+`")`)
	fl.Float32Var(&s.LearningRate, "lr", 0, fmt.Sprintf("learning rate (default %g)", pb.DefaultLearningRate))
	fl.BoolVar(&s.ScaleLr, "scale-lr", false, "scale the learning rate by batch × workers (× 2 with prior preservation)")
	fl.Int32Var(&s.BatchSize, "batch", 0, "images per worker per step (default 1)")
	fl.Int32Var(&s.Resolution, "resolution", 0, "training resolution (default: the model's)")
	fl.Uint64Var(&s.Seed, "seed", 0, "training seed")
	fl.Int32Var(&s.CheckpointEvery, "checkpoint-every", 0, fmt.Sprintf("checkpoint interval in steps (default %d)", pb.DefaultCheckpointEvery))
	fl.BoolVar(&s.Replace, "replace", false, "replace an existing concept of the same name")
	fl.BoolVar(&s.NoBaseFlow, "no-base-flow", false, "plain Custom Diffusion (no base-flow K/V splice)")
	fl.StringArrayVar(&templates, "template", nil, `prompt template with one "{}" (repeatable; default: the reference's 7)`)
	fl.StringVar(&s.ExtractPrompt, "extract-prompt", "", `prompt the entry is extracted with (default "photo of <modifier-token> <class>")`)
	fl.BoolVar(&s.TokenOnly, "token-only", false, "train the modifier token's rows alone, keeping every attn2 to_k/to_v at the base model's (try --lr about 5e-3)")
	fl.Int32Var(&s.Places, "places", 0, "places the entry holds rows for (per-place bank extension; default 1, the bank entry alone)")
	fl.StringSliceVar(&s.PlaceFillers, "fillers", nil, "with --places N: the N-1 plain class nouns put before the concept for places 2 … N, e.g. circle,square")
	fl.BoolVar(&wait, "wait", false, "follow the job with a progress bar until it ends")
	fl.BoolVar(&noProgress, "no-progress", false, "with --wait, print one line per update instead of a progress bar (the default when stdout is not a terminal)")
	cmd.MarkFlagRequired("class")
	cmd.MarkFlagRequired("images")
	return cmd
}

// watchRetries bounds how often followJob re-attaches to a coordinator after losing
// the one it watched through (a coordinator restart or failover).
const watchRetries = 10

// followJob streams WatchJob into a progress bar (or plain lines) until the job ends;
// it returns an error unless the job is DONE. When the coordinator goes away it finds
// another one through etcd (every replica serves WatchJob) and watches on.
func followJob(ctx context.Context, api pb.CoordinatorClient, f *clientFlags, id string, out io.Writer, bar bool) error {
	var (
		last    *pb.Job
		retries int
		conn    *grpc.ClientConn
	)
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	stream, err := api.WatchJob(ctx, &pb.WatchJobRequest{JobId: id})
	for {
		var m *pb.WatchJobResponse
		if err == nil {
			m, err = stream.Recv()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if status.Code(err) != codes.Unavailable || len(f.etcd) == 0 || retries == watchRetries || ctx.Err() != nil {
				return fmt.Errorf("watching job %s: %w", id, err)
			}
			retries++
			fmt.Fprintf(out, "\nlost the coordinator (%v); looking for another one\n", status.Convert(err).Message())
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(retries) * 500 * time.Millisecond):
			}
			again := *f
			again.coordinator = "" // discover through etcd
			var next pb.CoordinatorClient
			if next, conn, err = reconnect(ctx, &again, conn); err == nil {
				stream, err = next.WatchJob(ctx, &pb.WatchJobRequest{JobId: id})
			}
			continue
		}
		last = m.Job
		line := progressLine(m.Job)
		switch {
		case m.Event != "" && bar:
			fmt.Fprintf(out, "\r\033[K%s\n%s", m.Event, line)
		case m.Event != "":
			fmt.Fprintf(out, "%s\n%s\n", m.Event, line)
		case bar:
			fmt.Fprintf(out, "\r\033[K%s", line)
		default:
			fmt.Fprintln(out, line)
		}
	}
	if bar {
		fmt.Fprintln(out)
	}
	if last == nil {
		return fmt.Errorf("job %s: watch ended without a state", id)
	}
	st := last.Status
	if st.State != pb.JobState_JOB_STATE_DONE {
		return fmt.Errorf("job %s %s: %s", id, jobStateName(st.State), st.FailureReason)
	}
	fmt.Fprintf(out, "job=%s state=done concept=%s digest=%s steps=%d generation=%d\n", id, st.ConceptName, st.ConceptDigest, st.Step, st.Generation)
	return nil
}

// reconnect closes the previous extra connection (if any) and dials a coordinator
// found through etcd.
func reconnect(ctx context.Context, f *clientFlags, prev *grpc.ClientConn) (pb.CoordinatorClient, *grpc.ClientConn, error) {
	if prev != nil {
		prev.Close()
	}
	return coordinatorConn(ctx, f)
}

// writerIsTerminal reports whether w is a character device, where the progress bar can
// redraw its line; elsewhere (pipes, files, tests) updates are printed as lines.
func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine renders "[#####.....] 40/100 loss 0.1234 2.5 steps/s ETA 24s gen 1".
func progressLine(j *pb.Job) string {
	st := j.Status
	const width = 30
	filled := 0
	if st.TotalSteps > 0 {
		filled = int(st.Step) * width / int(st.TotalSteps)
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	eta := "-"
	if st.StepsPerSec > 0 && st.State == pb.JobState_JOB_STATE_RUNNING {
		eta = (time.Duration(float64(st.TotalSteps-st.Step)/float64(st.StepsPerSec)) * time.Second).Round(time.Second).String()
	}
	s := fmt.Sprintf("[%s] %d/%d loss %.4g %.2f steps/s ETA %s gen %d %s", bar, st.Step, st.TotalSteps, st.Loss,
		st.StepsPerSec, eta, st.Generation, jobStateName(st.State))
	if st.State == pb.JobState_JOB_STATE_PENDING {
		s += fmt.Sprintf(" (queue position %d)", st.QueuePosition)
	}
	return s
}

func newConceptLsCmd() *cobra.Command {
	var (
		f     clientFlags
		list  listFlags
		class string
	)
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the concept bank",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				concepts, err := allPages(func(token string) ([]*pb.Concept, string, error) {
					resp, err := api.ListConcepts(ctx, &pb.ListConceptsRequest{ClassNoun: class, PageSize: list.pageSize, PageToken: token})
					return resp.GetConcepts(), resp.GetNextPageToken(), err
				})
				if err != nil {
					return err
				}
				if list.json {
					return writeJSONLines(cmd.OutOrStdout(), concepts...)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tCLASS\tTOKEN\tN_TOK\tBYTES\tBASE MODEL\tJOB\tCREATED")
				for _, c := range concepts {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", c.Name, c.ClassNoun, c.ModifierToken, c.NTok, c.SizeBytes,
						shortModelID(c.BaseModelId), orDash(c.JobId), c.Created.AsTime().Local().Format(time.DateTime))
				}
				tw.Flush()
				fmt.Fprintf(cmd.OutOrStdout(), "concepts=%d\n", len(concepts))
				return nil
			})
		},
	}
	f.register(cmd)
	list.register(cmd, "concepts")
	cmd.Flags().StringVar(&class, "class", "", "only concepts of this class noun")
	return cmd
}

func shortModelID(id string) string {
	if len(id) > 16 {
		return id[:16]
	}
	return orDash(id)
}

func newConceptShowCmd() *cobra.Command {
	var (
		f   clientFlags
		out outputFlags
	)
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one concept's metadata",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				resp, err := api.GetConcept(ctx, &pb.GetConceptRequest{Name: args[0]})
				if err != nil {
					return err
				}
				c, w := resp.Concept, cmd.OutOrStdout()
				if out.json {
					return writeJSONLines(w, c)
				}
				fmt.Fprintf(w, "name:        %s\nclass noun:  %s\ntoken:       %s\nn_tok:       %d\n", c.Name, c.ClassNoun, c.ModifierToken, c.NTok)
				fmt.Fprintf(w, "places:      %d\n", c.Places)
				fmt.Fprintf(w, "digest:      %s\nbytes:       %d\nbase model:  %s\n", c.Digest, c.SizeBytes, orDash(c.BaseModelId))
				fmt.Fprintf(w, "job:         %s\ncreated:     %s\nrecipe:      %s\n", orDash(c.JobId),
					c.Created.AsTime().Local().Format(time.DateTime), orDash(c.RecipeJson))
				return nil
			})
		},
	}
	f.register(cmd)
	out.register(cmd, "the concept")
	return cmd
}

func newConceptRmCmd() *cobra.Command {
	var (
		f      clientFlags
		digest string
	)
	cmd := &cobra.Command{
		Use:   "rm NAME",
		Short: "Remove a concept from the bank",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				if _, err := api.DeleteConcept(ctx, &pb.DeleteConceptRequest{Name: args[0], Digest: digest}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "concept=%s deleted=true\n", args[0])
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&digest, "digest", "", "delete only if the bank still holds this digest")
	return cmd
}

func newConceptGetCmd() *cobra.Command {
	var (
		f   clientFlags
		out string
	)
	cmd := &cobra.Command{
		Use:   "get NAME",
		Short: "Download a concept's entry file (safetensors)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				out = args[0] + ".safetensors"
			}
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				stream, err := api.DownloadConcept(ctx, &pb.DownloadConceptRequest{Name: args[0]})
				if err != nil {
					return err
				}
				var (
					meta *pb.Concept
					data []byte
				)
				for {
					m, err := stream.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
					if c := m.GetConcept(); c != nil {
						meta = c
					} else if ch := m.GetChunk(); ch != nil {
						if ch.Offset != int64(len(data)) {
							return fmt.Errorf("download %s: chunk at offset %d, expected %d", args[0], ch.Offset, len(data))
						}
						data = append(data, ch.Data...)
					}
				}
				if meta == nil || trainer.Digest(data) != meta.Digest {
					return fmt.Errorf("download %s: received %d bytes that do not match the bank's digest", args[0], len(data))
				}
				if err := os.WriteFile(out, data, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "concept=%s file=%s bytes=%d digest=%s\n", args[0], out, len(data), meta.Digest)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVarP(&out, "out", "o", "", "output file (default NAME.safetensors)")
	return cmd
}

func newConceptImportCmd() *cobra.Command {
	var (
		f       clientFlags
		name    string
		replace bool
	)
	cmd := &cobra.Command{
		Use:   "import FILE --name NAME",
		Short: "Add an entry made offline with `latexblend extract` to the bank",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			if name == "" {
				name = strings.ToLower(strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0])))
			}
			return withCoordinator(cmd, &f, func(ctx context.Context, api pb.CoordinatorClient) error {
				c, err := importConcept(ctx, api, name, replace, b)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "concept=%s class=%q digest=%s bytes=%d\n", c.Name, c.ClassNoun, c.Digest, c.SizeBytes)
				return nil
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&name, "name", "", "name in the bank (default: the file's base name)")
	cmd.Flags().BoolVar(&replace, "replace", false, "replace an existing concept of the same name")
	return cmd
}

// importConcept streams an entry: the header, then chunks.
func importConcept(ctx context.Context, api pb.CoordinatorClient, name string, replace bool, b []byte) (*pb.Concept, error) {
	stream, err := api.ImportConcept(ctx)
	if err != nil {
		return nil, err
	}
	msgs := []*pb.ImportConceptRequest{{Payload: &pb.ImportConceptRequest_Header{Header: &pb.ImportConceptHeader{
		Name: name, Replace: replace, SizeBytes: int64(len(b)), Digest: trainer.Digest(b)}}}}
	for off := 0; off < len(b) || off == 0; off += pb.ChunkBytes {
		end := min(off+pb.ChunkBytes, len(b))
		msgs = append(msgs, &pb.ImportConceptRequest{Payload: &pb.ImportConceptRequest_Chunk{Chunk: &pb.DataChunk{
			Offset: int64(off), Data: b[off:end], Last: end == len(b)}}})
		if end == len(b) {
			break
		}
	}
	for m := range slices.Values(msgs) {
		if err := stream.Send(m); err != nil {
			if errors.Is(err, io.EOF) { // refused early: the status comes with CloseAndRecv
				break
			}
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.Concept, nil
}
