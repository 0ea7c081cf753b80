// Command samsa is the Samsa broker and the command-line tools Kafka users
// know: serve, topics, produce, consume, groups, configs, dump-log, perf,
// verify.
//
// Exit status: 0 on success, 1 on failure, 2 on a usage error (an unknown
// flag, a missing or contradictory option), as Kafka's tools.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	err := newRoot().Execute()
	if err != nil {
		fmt.Fprintln(os.Stderr, "samsa:", err)
		if exitCode(err) == 2 {
			fmt.Fprintln(os.Stderr, "Run with --help for usage.")
		}
	}
	os.Exit(exitCode(err))
}

// newRoot assembles the command line.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "samsa",
		Short:         "Samsa: a Kafka-compatible event streaming platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	// Unknown flags and bad flag values are usage errors (exit status 2);
	// subcommands inherit this.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr(err) })
	root.AddCommand(serveCommand())
	for _, add := range extraCommands {
		root.AddCommand(add())
	}
	return root
}

// extraCommands are the subcommands registered by their own files.
var extraCommands []func() *cobra.Command
