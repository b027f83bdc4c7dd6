// Command settle is the settlement system's single binary: bank tools
// (validate, net, gen), operator tools and the long-running service.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// commands holds the constructors of the top-level subcommands. Each file
// of this package adds its own in an init function, so that the command
// tree grows without every feature editing one shared file.
var commands []func() *cobra.Command

// exitError carries a process exit status chosen by a command: 1 for
// rejected input, 2 for bad usage. Anything else that fails exits 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: 2, err: fmt.Errorf(format, args...)}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "settle",
		Short:         "Interbank settlement by multilateral netting, recorded on a shared ledger",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	// Library logs (migrations, say) go through the default logger: quiet
	// unless SETTLE_LOG asks for more.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(slog.LevelWarn)})))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := setClock()
	if err == nil {
		err = newRoot().ExecuteContext(ctx)
	} else {
		err = usageError("%v", err)
	}
	stop()
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "settle:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "settle:", err)
	// Cobra reports unknown commands and bad arguments as plain errors.
	if isUsage(err) {
		return 2
	}
	return 1
}
