// Command latexblend is the single binary of the latexblend system: every cluster role
// (coordinator, trainer, sampler, dev) and every user action is one of its subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		if !errors.Is(err, errUsageShown) {
			fmt.Fprintln(os.Stderr, "latexblend:", err)
		}
		os.Exit(1)
	}
}
