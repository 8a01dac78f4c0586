package rpc

import (
	"sort"
	"strconv"
	"strings"
)

// param describes one parameter of a method (help and docs).
type param struct {
	Name     string
	Type     string // string, number, boolean, hex, hash, address, array, object
	Optional bool
	Default  string
	Doc      string
}

// method is one entry of the method table.
type method struct {
	Name    string
	Family  string
	Public  bool // served on the public listener
	Params  []param
	Summary string
	Result  string   // what the result is (help and docs)
	Errors  []string // the errors it returns beyond the common ones
	Handler func(*call) (any, error)
}

func (m *method) paramIndex(name string) int {
	for i, p := range m.Params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

// usage returns "name arg [optarg]".
func (m *method) usage() string {
	var b strings.Builder
	b.WriteString(m.Name)
	for _, p := range m.Params {
		if p.Optional {
			b.WriteString(" [" + p.Name + "]")
		} else {
			b.WriteString(" " + p.Name)
		}
	}
	return b.String()
}

// help returns the method's help text.
func (m *method) help() string {
	var b strings.Builder
	b.WriteString(m.usage() + "\n\n" + m.Summary + "\n")
	if len(m.Params) > 0 {
		b.WriteString("\nArguments:\n")
		for i, p := range m.Params {
			opt := "required"
			if p.Optional {
				opt = "optional"
				if p.Default != "" {
					opt += ", default " + p.Default
				}
			}
			b.WriteString("  " + strconv.Itoa(i+1) + ". " + p.Name + " (" + p.Type + ", " + opt + ") " + p.Doc + "\n")
		}
	}
	if m.Result != "" {
		b.WriteString("\nResult:\n  " + m.Result + "\n")
	}
	if !m.Public {
		b.WriteString("\nNot available on the public listener.\n")
	}
	return b.String()
}

// Method families, in the order help lists them.
var families = []string{"Blockchain", "Light clients", "Transactions", "Addresses", "Mining", "Node"}

// methodTable is every method by name; built in init from the family
// files' lists.
var methodTable map[string]*method

func init() {
	methodTable = make(map[string]*method)
	for _, list := range [][]*method{blockchainMethods, blockStatsMethods, lightClientMethods, rawTxMethods, addressMethods, miningMethods, nodeMethods} {
		for _, m := range list {
			if _, dup := methodTable[m.Name]; dup {
				panic("rpc: method " + m.Name + " registered twice")
			}
			methodTable[m.Name] = m
		}
	}
}

// sortedMethods returns the methods by family then name.
func sortedMethods() []*method {
	out := make([]*method, 0, len(methodTable))
	for _, m := range methodTable {
		out = append(out, m)
	}
	rank := func(f string) int {
		for i, x := range families {
			if x == f {
				return i
			}
		}
		return len(families)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := rank(out[i].Family), rank(out[j].Family); a != b {
			return a < b
		}
		return out[i].Name < out[j].Name
	})
	return out
}
