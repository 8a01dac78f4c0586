package consensus

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// declaredKinds parses errors.go and returns every ErrorKind constant, so
// a kind added without a meaning fails TestEveryKindHasAMeaning.
func declaredKinds(t *testing.T) map[ErrorKind]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	kinds := make(map[ErrorKind]string)
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Values) != len(vs.Names) {
			return true
		}
		for i, v := range vs.Values {
			call, ok := v.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				continue
			}
			if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "ErrorKind" {
				continue
			}
			lit, ok := call.Args[0].(*ast.BasicLit)
			if !ok {
				continue
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				t.Fatal(err)
			}
			kinds[ErrorKind(s)] = vs.Names[i].Name
		}
		return true
	})
	return kinds
}

func TestEveryKindHasAMeaning(t *testing.T) {
	kinds := declaredKinds(t)
	if len(kinds) < 40 {
		t.Fatalf("found only %d kinds in errors.go", len(kinds))
	}
	for k, name := range kinds {
		if _, ok := meanings[k]; !ok {
			t.Errorf("%s (%q) has no entry in the meanings table", name, k)
		}
	}
	for k := range meanings {
		if _, ok := kinds[k]; !ok {
			t.Errorf("meanings has an entry for %q, which errors.go does not declare", k)
		}
	}
}

// TestMeaningInvariants checks relations that every entry must keep.
func TestMeaningInvariants(t *testing.T) {
	for k, m := range meanings {
		if m.MarksInvalid && !m.PeerFault {
			t.Errorf("%s marks a block invalid but does not blame its sender", k)
		}
		if m.MarksInvalid && m.RetryLater {
			t.Errorf("%s both marks invalid and retries later", k)
		}
		if m.BodyMismatch && m.MarksInvalid {
			t.Errorf("%s: a body that does not match its header must not mark the id", k)
		}
		if m.RetryLater && m.PeerFault {
			t.Errorf("%s: what may pass later cannot be held against a peer", k)
		}
	}
	// The cases SPEC section 2 names.
	for _, k := range []ErrorKind{ErrBadMerkleRoot, ErrTimeTooNew} {
		if k.MarksInvalid() {
			t.Errorf("%s marks a block invalid", k)
		}
	}
	if !ErrTimeTooNew.Meaning().RetryLater || ErrTimeTooNew.Meaning().PeerFault {
		t.Error("a block from the future must be retried, never blamed (clocks differ)")
	}
}

func TestClassify(t *testing.T) {
	wrapped := fmt.Errorf("tx 3: %w", ruleErr(ErrMissingInput, "input 0"))
	reason, m, ok := Classify(wrapped)
	if !ok || reason != string(ErrMissingInput) || !m.MarksInvalid || !m.DependsOnState {
		t.Errorf("Classify(wrapped missing input) = %q %+v %v", reason, m, ok)
	}
	if _, _, ok := Classify(errors.New("leveldb: closed")); ok {
		t.Error("a storage error was classified as a rule: it would be held against a block or a peer")
	}
	if _, _, ok := Classify(nil); ok {
		t.Error("nil classified")
	}
	if reason, _, ok := Classify(ErrOrphan); !ok || reason != "orphan" {
		t.Errorf("Classify(ErrOrphan) = %q %v", reason, ok)
	}
}
