package layers

import (
	"os/exec"
	"strings"
	"testing"
)

// goList runs `go list` from the module root with args and returns its
// output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, msg)
	}
	return strings.Fields(string(out))
}

// imports returns the Tally packages that pkg imports directly (tests
// excluded).
func imports(t *testing.T, pkg string) []string {
	var out []string
	for _, p := range goList(t, "-f", `{{join .Imports " "}}`, pkg) {
		if p == "tally" || strings.HasPrefix(p, "tally/") {
			out = append(out, p)
		}
	}
	return out
}

func TestWalletLinksNoNode(t *testing.T) {
	for _, dep := range goList(t, "-deps", "./cmd/wallet") {
		if strings.Contains(dep, "goleveldb") || strings.Contains(dep, "go-libp2p") {
			t.Errorf("cmd/wallet links %s", dep)
		}
	}
}

func TestLayers(t *testing.T) {
	// allowed lists, for each package, the Tally packages it may import
	// directly. A package missing here may import nothing of Tally
	// except what its own entry says.
	allowed := map[string][]string{
		"tally/wire":      nil,
		"tally/consensus": {"tally/wire"},
	}
	for pkg, ok := range allowed {
		for _, imp := range imports(t, pkg) {
			if !contains(ok, imp) {
				t.Errorf("%s imports %s", pkg, imp)
			}
		}
	}
	// forbidden lists, for each package pattern, the Tally packages
	// (prefixes) it must not import, directly or not.
	forbidden := map[string][]string{
		"./chain/...":   {"tally/mempool", "tally/mining", "tally/p2p", "tally/rpc", "tally/node", "tally/wallet"},
		"./mempool/...": {"tally/mining", "tally/p2p", "tally/rpc", "tally/node", "tally/wallet"},
		"./p2p/...":     {"tally/rpc", "tally/node", "tally/mining", "tally/wallet"},
		"./rpc/...":     {"tally/p2p", "tally/node", "tally/wallet"},
		"./mining/...":  {"tally/p2p", "tally/rpc", "tally/node"},
		"./wallet/...":  {"tally/chain", "tally/mempool", "tally/p2p", "tally/node"},
	}
	for pattern, bad := range forbidden {
		for _, line := range goList(t, "-f", `{{.ImportPath}}:{{join .Deps ","}}`, pattern) {
			pkg, deps, _ := strings.Cut(line, ":")
			for _, dep := range strings.Split(deps, ",") {
				for _, b := range bad {
					if dep == b || strings.HasPrefix(dep, b+"/") {
						t.Errorf("%s depends on %s", pkg, dep)
					}
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
