package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// errUsageShown marks an error whose message cobra already printed.
var errUsageShown = errors.New("usage error")

// subcommands lists constructors that the files of this package register from init, so
// each subcommand lives in its own file.
var subcommands []func() *cobra.Command

// benchSubcommands are the children of `latexblend bench`, registered the same way.
var benchSubcommands []func() *cobra.Command

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "latexblend",
		Short:         "Onboard visual concepts and generate multi-concept images with LatexBlend on SDXL",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, mk := range subcommands {
		root.AddCommand(mk())
	}
	bench := &cobra.Command{
		Use:   "bench",
		Short: "Run a benchmark; the last output line is machine-readable key=value pairs",
	}
	for _, mk := range benchSubcommands {
		bench.AddCommand(mk())
	}
	root.AddCommand(bench)
	return root
}
