package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"

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
	// --cpuprofile writes a pprof CPU profile of the whole command, for finding where a
	// long run (train-base, eval, bench) spends its time.
	var cpuProfile string
	var profFile *os.File
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the command to this file")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile %s: %w", cpuProfile, err)
		}
		profFile = f
		return nil
	}
	root.PersistentPostRunE = func(*cobra.Command, []string) error {
		if profFile == nil {
			return nil
		}
		pprof.StopCPUProfile()
		err := profFile.Close()
		profFile = nil
		return err
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
