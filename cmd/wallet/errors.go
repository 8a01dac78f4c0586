package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"tally/rpc/client"
	"tally/rpc/rpcjson"
	"tally/wallet"
	"tally/wire"
)

// Exit codes. Scripts can rely on them; they are listed in the app's help.
const (
	exitOK    = 0
	exitError = 1 // the command failed; nothing was broadcast
	exitUsage = 2 // bad flags or arguments
	// exitSentUnconfirmed: a payment was broadcast (its txid is printed on
	// stdout, also with --json) but waiting for its confirmations failed.
	// Do not pay again: look the txid up.
	exitSentUnconfirmed = 3
)

// exitCodesHelp describes the exit codes for --help.
const exitCodesHelp = `EXIT CODES:
   0  success
   1  the command failed (nothing was broadcast)
   2  bad flags or arguments
   3  a payment was broadcast (txid on stdout) but waiting for confirmations failed: do not pay again

   With --json, a failure prints {"error": {"code": "...", "message": "..."}} on stdout
   (and, for exit code 3, the payment's fields including "txid").`

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usageError.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// errFeeTooHigh: the fee is above --max-fee.
var errFeeTooHigh = errors.New("fee above --max-fee")

// sentError is a failure after a payment was broadcast: result holds what
// send prints, including the txid.
type sentError struct {
	result any
	err    error
}

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

// errorCode names the kind of a failure for --json output.
func errorCode(err error) string {
	var ue *usageError
	var se *sentError
	var re *rpcjson.RPCError
	switch {
	case errors.As(err, &se):
		return "sent_unconfirmed"
	case errors.As(err, &ue):
		return "usage"
	case errors.Is(err, wire.ErrBadAddress):
		return "invalid_address"
	case errors.Is(err, wallet.ErrInsufficientFunds):
		return "insufficient_funds"
	case errors.Is(err, errUnverified):
		return "unverified_coin"
	case errors.Is(err, errFeeTooHigh):
		return "fee_too_high"
	case errors.Is(err, wallet.ErrWrongPassphrase):
		return "wrong_passphrase"
	case errors.Is(err, wallet.ErrBadSeed), errors.Is(err, wallet.ErrBadMnemonic):
		return "invalid_seed"
	case errors.Is(err, client.ErrUnauthorized):
		return "node_unauthorized"
	case errors.As(err, &re):
		return "node_error"
	}
	return "error"
}

// exitCode returns the process exit code for err.
func exitCode(err error) int {
	var ue *usageError
	var se *sentError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &se):
		return exitSentUnconfirmed
	case errors.As(err, &ue):
		return exitUsage
	}
	return exitError
}

// reportError prints err: with --json one object on stdout, else one line
// on stderr. It returns the exit code.
func reportError(jsonOut bool, stdout, stderr io.Writer, err error) int {
	code := exitCode(err)
	if !jsonOut {
		fmt.Fprintln(stderr, "wallet: "+oneLine(err))
		return code
	}
	obj := map[string]any{}
	var se *sentError
	if errors.As(err, &se) {
		if b, e := json.Marshal(se.result); e == nil {
			json.Unmarshal(b, &obj)
		}
	}
	e := map[string]any{"code": errorCode(err), "message": oneLine(err)}
	var re *rpcjson.RPCError
	if errors.As(err, &re) {
		e["rpc_code"] = re.Code
	}
	obj["error"] = e
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.Encode(obj)
	return code
}

// wantsJSON reports whether the command line asks for --json, wherever
// it is: an error may come before the flags are parsed.
func wantsJSON(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "-json", "--json=true", "-json=true":
			return true
		}
	}
	return false
}
