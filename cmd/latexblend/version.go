package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/latexblend/latexblend/nn"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func init() { subcommands = append(subcommands, newVersionCmd) }

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return version
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, the Go version and the active BLAS backend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "latexblend %s\ngo %s %s/%s\nblas %s\n",
				buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, nn.BLASBackend())
			return nil
		},
	}
}
