package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
)

// outputFlags is --json, for commands that print records a script may want whole.
type outputFlags struct{ json bool }

func (o *outputFlags) register(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&o.json, "json", false, "print "+what+" as JSON (proto field names), one object per line")
}

// listFlags are the listing commands' output and paging flags.
type listFlags struct {
	outputFlags
	pageSize int32
}

func (l *listFlags) register(cmd *cobra.Command, what string) {
	l.outputFlags.register(cmd, what)
	cmd.Flags().Int32Var(&l.pageSize, "page-size", pb.MaxPageSize, fmt.Sprintf("how many %s to fetch per request (1 to %d); every page is listed", what, pb.MaxPageSize))
}

// allPages calls fetch with each page token in turn, from the first page ("") until a
// response has no next token, and returns every page's items in order.
func allPages[T any](fetch func(token string) (items []T, next string, err error)) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	for token := ""; ; {
		items, next, err := fetch(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("the server returned page token %q twice; stopping after %d items", next, len(all))
		}
		seen[next], token = true, next
	}
}

// writeJSONLines writes each message as one line of protojson with proto field names.
func writeJSONLines[M proto.Message](w io.Writer, msgs ...M) error {
	opts := protojson.MarshalOptions{UseProtoNames: true}
	for _, m := range msgs {
		b, err := opts.Marshal(m)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "%s\n", b); err != nil {
			return err
		}
	}
	return nil
}
