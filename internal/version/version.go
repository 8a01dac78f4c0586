// Package version says which build of Tally is running, for --version on
// both binaries, the node's start banner and its p2p agent string.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release; a release build sets it with
// -ldflags "-X tally/internal/version.Version=1.2.3".
var Version = "0.1.0-dev"

// String returns "<Version> (<vcs revision>[, modified], <go version>)".
func String() string {
	rev, dirty := "", false
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	out := Version + " ("
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		out += "revision " + rev
		if dirty {
			out += ", modified"
		}
		out += ", "
	}
	return out + runtime.Version() + ")"
}
