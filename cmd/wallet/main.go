// Command wallet is Tally's wallet and light client: an encrypted
// keystore (package wallet) that talks to a node over JSON-RPC for
// balances, history and sending, and a header chain (package wallet/spv)
// that verifies payments without trusting the node.
//
// Global flags come before the command (wallet --dev --wallet FILE send
// ...); --json is also accepted after it. Every command prints one JSON
// object with --json, on failure too ({"error": {"code", "message"}});
// without it errors are one line on stderr. Exit codes: see exitCodesHelp.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"tally/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runMain runs the command line args (args[0] is the program name) and
// returns the exit code, having reported any error.
func runMain(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := newApp(stdin, stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return exitOK
	}
	return reportError(wantsJSON(args[1:]), stdout, stderr, err)
}

// oneLine flattens an error (errors.Join puts each on its own line) into
// one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "wallet", Usage: "keystore `FILE` (default ~/.tally/<network>/wallet)"},
		&cli.StringFlag{Name: "rpc", Usage: "node JSON-RPC `URL` (default http://127.0.0.1:<rpc_port of the network>)"},
		&cli.StringFlag{Name: "rpc-cookie", Usage: "node cookie `FILE` (default .cookie beside the wallet, then ~/.tally/<network>/.cookie)"},
		&cli.StringFlag{Name: "rpc-user", Usage: "node JSON-RPC user"},
		&cli.StringFlag{Name: "rpc-password", Usage: "node JSON-RPC password"},
		&cli.StringFlag{Name: "passphrase-file", Usage: "read the keystore passphrase from `FILE` (else $TALLY_PASSPHRASE, else a prompt)"},
		&cli.StringFlag{Name: "genesis", Usage: "genesis.json `FILE` of the network (default: the embedded public network)"},
		&cli.BoolFlag{Name: "dev", Usage: "use the dev network (noded --dev)"},
		jsonFlag(),
	}
}

func jsonFlag() cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: "print one JSON object"}
}

// withJSON adds --json to a command's own flags, so it may follow the
// command name.
func withJSON(flags ...cli.Flag) []cli.Flag { return append(flags, jsonFlag()) }

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "wallet",
		Usage:                "Tally wallet and light client",
		Description:          exitCodesHelp,
		Version:              version.String(),
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		Reader:               stdin,
		Writer:               stdout,
		ErrWriter:            stderr,
		Flags:                globalFlags(),
		Commands: []*cli.Command{
			createCommand(),
			importCommand(),
			addressCommand(),
			balanceCommand(),
			sendCommand(),
			bumpfeeCommand(),
			historyCommand(),
			headersCommand(),
			verifyCommand(),
		},
		OnUsageError:   onUsageError,
		ExitErrHandler: func(*cli.Context, error) {}, // main prints and exits
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("no command %q (see wallet --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
	}
	// A usage error is reported like any other (one JSON object with
	// --json), not with the help text urfave/cli prints by default.
	var walk func(cmds []*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			c.OnUsageError = onUsageError
			walk(c.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	return usagef("%v (see wallet --help)", err)
}

// positionalArgs returns a command's positional arguments, applying any
// of its flags that follow them: urfave/cli stops parsing flags at the
// first argument, and "wallet verify TXID --json" should work as written.
func positionalArgs(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	var pos []string
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		pos, args = append(pos, args[0]), args[1:]
	}
	if len(args) == 0 {
		return pos, nil
	}
	fs := flag.NewFlagSet(c.Command.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range c.Command.Flags {
		if err := f.Apply(fs); err != nil {
			return nil, err
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Command.Name, err)
	}
	var err error
	fs.Visit(func(f *flag.Flag) {
		values := []string{f.Value.String()}
		if s, ok := f.Value.(*cli.StringSlice); ok {
			values = s.Value()
		}
		for _, v := range values {
			if e := c.Set(f.Name, v); e != nil && err == nil {
				err = e
			}
		}
	})
	return append(pos, fs.Args()...), err
}
