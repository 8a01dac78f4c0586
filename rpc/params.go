package rpc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"tally/rpc/rpcjson"

	"tally/wire"
)

// call is one method invocation: the server, the method, its positional
// arguments (named ones already placed), and a hook to run after the
// response is written.
type call struct {
	ctx    context.Context
	s      *Server
	m      *method
	args   []json.RawMessage
	public bool
	after  func()
}

// parseParams places the call's params (an array, an object of named
// params, or nothing; valid JSON already) by position and checks their
// number. The arguments point into raw.
func parseParams(m *method, raw json.RawMessage) ([]json.RawMessage, *rpcjson.RPCError) {
	raw = bytes.TrimSpace(raw)
	var args []json.RawMessage
	switch {
	case len(raw) == 0 || isNull(raw):
	case raw[0] == '[':
		args = elements(raw)
		if len(args) > len(m.Params) {
			return nil, rpcErr(rpcjson.CodeInvalidParams, "%s takes at most %d parameters, got %d (usage: %s)", m.Name, len(m.Params), len(args), m.usage())
		}
	case raw[0] == '{':
		args = make([]json.RawMessage, len(m.Params))
		var unknown string
		members(raw, func(k string, v json.RawMessage) {
			if i := m.paramIndex(k); i >= 0 {
				args[i] = v
			} else if unknown == "" {
				unknown = k
			}
		})
		if unknown != "" {
			return nil, rpcErr(rpcjson.CodeInvalidParameter, "Unknown named parameter %s (usage: %s)", unknown, m.usage())
		}
	default:
		return nil, rpcErr(rpcjson.CodeInvalidRequest, "params must be an array or an object")
	}
	for i, p := range m.Params {
		if !p.Optional && (i >= len(args) || args[i] == nil || isNull(args[i])) {
			return nil, rpcErr(rpcjson.CodeInvalidParams, "missing required parameter %q (usage: %s)", p.Name, m.usage())
		}
	}
	return args, nil
}

// has reports whether argument i was given and is not null.
func (c *call) has(i int) bool {
	return i < len(c.args) && c.args[i] != nil && !isNull(c.args[i])
}

func (c *call) name(i int) string { return c.m.Params[i].Name }

func (c *call) typeErr(i int, want string) *rpcjson.RPCError {
	return rpcErr(rpcjson.CodeInvalidParams, "parameter %q must be %s", c.name(i), want)
}

// str returns argument i as a string.
func (c *call) str(i int) (string, error) {
	raw := c.args[i]
	if len(raw) == 0 || raw[0] != '"' {
		return "", c.typeErr(i, "a string")
	}
	return unquote(raw), nil
}

// optStr returns argument i as a string, or def if it was not given.
func (c *call) optStr(i int, def string) (string, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.str(i)
}

// hash returns argument i as a 64-hex-digit hash.
func (c *call) hash(i int) (wire.Hash, error) {
	s, err := c.str(i)
	if err != nil {
		return wire.Hash{}, err
	}
	h, perr := wire.ParseHash(s)
	if perr != nil {
		return wire.Hash{}, rpcErr(rpcjson.CodeInvalidParameter, "%s must be of length 64 (not %d) and hexadecimal", c.name(i), len(s))
	}
	return h, nil
}

// optHash returns argument i as a hash, and whether it was given.
func (c *call) optHash(i int) (wire.Hash, bool, error) {
	if !c.has(i) {
		return wire.Hash{}, false, nil
	}
	h, err := c.hash(i)
	return h, err == nil, err
}

// isNumber reports whether raw starts like a JSON number.
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9')
}

// uint returns argument i as an integer in [lo, hi]. A number that is not
// an integer in range (negative, fractional, 1e400, 2^70) is -8; anything
// but a number is -32602.
func (c *call) uint(i int, lo, hi uint64) (uint64, error) {
	raw := bytes.TrimSpace(c.args[i])
	if !isNumber(raw) {
		return 0, c.typeErr(i, "a number")
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, rpcErr(rpcjson.CodeInvalidParameter, "%s out of range: want an integer from %d to %d, got %.40s", c.name(i), lo, hi, raw)
	}
	return v, nil
}

// optUint returns argument i as an integer in [lo, hi], or def.
func (c *call) optUint(i int, def, lo, hi uint64) (uint64, error) {
	if !c.has(i) {
		return def, nil
	}
	return c.uint(i, lo, hi)
}

// optBool returns argument i as a boolean (true, false, or the numbers 0
// and 1), or def.
func (c *call) optBool(i int, def bool) (bool, error) {
	if !c.has(i) {
		return def, nil
	}
	switch string(bytes.TrimSpace(c.args[i])) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, c.typeErr(i, "a boolean")
}

// verbosity returns argument i as a level in [0, max]; true and false
// mean 1 and 0, as in Bitcoin Core.
func (c *call) verbosity(i int, def, max uint64) (uint64, error) {
	if !c.has(i) {
		return def, nil
	}
	switch string(bytes.TrimSpace(c.args[i])) {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	return c.uint(i, 0, max)
}

// hexArg decodes argument i from hex, refusing more than maxBytes; a
// failure is reported with code. A string without escapes (every hex
// string a client sends) is decoded straight from the request body into
// the one buffer returned.
func (c *call) hexArg(i int, maxBytes int, code int, what string) ([]byte, error) {
	raw := c.args[i]
	if len(raw) == 0 || raw[0] != '"' {
		return nil, c.typeErr(i, "a string")
	}
	digits, plain := rawString(raw)
	if !plain {
		digits = []byte(unquote(raw))
	}
	if len(digits) > 2*maxBytes {
		return nil, rpcErr(code, "%s decode failed: %d hex digits, more than the %d bytes allowed", what, len(digits), maxBytes)
	}
	b := make([]byte, hex.DecodedLen(len(digits)))
	if _, herr := hex.Decode(b, digits); herr != nil {
		return nil, rpcErr(code, "%s decode failed: not hex: %v", what, herr)
	}
	return b, nil
}

// address returns argument i as a public key hash and the address text.
func (c *call) address(i int) ([20]byte, string, error) {
	s, err := c.str(i)
	if err != nil {
		return [20]byte{}, "", err
	}
	pkh, aerr := wire.DecodeAddress(c.s.params.AddressPrefix, s)
	if aerr != nil {
		return pkh, s, rpcErr(rpcjson.CodeNotFound, "%v", aerr)
	}
	return pkh, s, nil
}

// array returns argument i as a JSON array.
func (c *call) array(i int) ([]json.RawMessage, error) {
	raw := c.args[i]
	if len(raw) == 0 || raw[0] != '[' {
		return nil, c.typeErr(i, "an array")
	}
	return elements(raw), nil
}
