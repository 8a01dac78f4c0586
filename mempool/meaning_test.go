package mempool

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestEveryPoolKindHasAMeaning parses errors.go so that a pool kind added
// without an entry in the meanings table fails.
func TestEveryPoolKindHasAMeaning(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	ast.Inspect(f, func(node ast.Node) bool {
		vs, ok := node.(*ast.ValueSpec)
		if !ok {
			return true
		}
		for i, v := range vs.Values {
			call, ok := v.(*ast.CallExpr)
			if !ok {
				continue
			}
			if fn, ok := call.Fun.(*ast.Ident); !ok || fn.Name != "ErrorKind" {
				continue
			}
			n++
			name := vs.Names[i].Name
			found := false
			for k := range meanings {
				if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Value == `"`+string(k)+`"` {
					found = true
				}
			}
			if !found {
				t.Errorf("pool kind %s has no entry in the meanings table", name)
			}
		}
		return true
	})
	if n < 10 || n != len(meanings) {
		t.Errorf("errors.go declares %d kinds, the table has %d", n, len(meanings))
	}
}
