package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// A request body is checked once by validJSON and then cut into
// sub-slices by skipValue, which trusts that check; nothing is copied or
// unescaped until a handler asks for a value. A submitblock argument (up
// to twice max_block_bytes of hex) is thus read once to validate, found
// again with bytes.IndexByte, and decoded from the body straight into the
// block's bytes (call.hexArg), instead of encoding/json's validation pass,
// an Unmarshal into the request, another into the params, and a third
// into a string that hex.DecodeString copies once more.

// maxNesting bounds the depth of arrays and objects, as encoding/json does.
const maxNesting = 10000

// strClass marks the bytes a JSON string cannot hold as they are: the
// quote, the backslash and the control characters.
var strClass = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// validJSON reports whether b is one JSON value with optional whitespace
// around it (RFC 8259; as encoding/json, it does not reject invalid
// UTF-8, which Unmarshal would replace).
func validJSON(b []byte) error {
	v := validator{b: b}
	v.ws()
	if err := v.value(0); err != nil {
		return err
	}
	v.ws()
	if v.i != len(b) {
		return v.errf("unexpected %q after the top-level value", b[v.i])
	}
	return nil
}

type validator struct {
	b []byte
	i int
}

func (v *validator) errf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", v.i, fmt.Sprintf(format, args...))
}

func (v *validator) ws() {
	for v.i < len(v.b) {
		switch v.b[v.i] {
		case ' ', '\t', '\n', '\r':
			v.i++
		default:
			return
		}
	}
}

func (v *validator) value(depth int) error {
	if v.i >= len(v.b) {
		return v.errf("unexpected end of input")
	}
	switch c := v.b[v.i]; {
	case c == '{' || c == '[':
		if depth >= maxNesting {
			return v.errf("nested more than %d deep", maxNesting)
		}
		return v.container(depth + 1)
	case c == '"':
		return v.str()
	case c == '-' || c >= '0' && c <= '9':
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	default:
		return v.errf("invalid character %q looking for a value", c)
	}
}

// container checks an array or an object whose opening bracket is at v.i.
func (v *validator) container(depth int) error {
	obj := v.b[v.i] == '{'
	closer := byte(']')
	if obj {
		closer = '}'
	}
	v.i++
	v.ws()
	if v.i < len(v.b) && v.b[v.i] == closer {
		v.i++
		return nil
	}
	for {
		if obj {
			if v.i >= len(v.b) || v.b[v.i] != '"' {
				return v.errf("expected a string key")
			}
			if err := v.str(); err != nil {
				return err
			}
			v.ws()
			if v.i >= len(v.b) || v.b[v.i] != ':' {
				return v.errf("expected ':' after an object key")
			}
			v.i++
			v.ws()
		}
		if err := v.value(depth); err != nil {
			return err
		}
		v.ws()
		if v.i >= len(v.b) {
			return v.errf("unexpected end of input")
		}
		switch v.b[v.i] {
		case ',':
			v.i++
			v.ws()
		case closer:
			v.i++
			return nil
		default:
			return v.errf("invalid character %q after a value", v.b[v.i])
		}
	}
}

func (v *validator) str() error {
	v.i++ // opening quote
	for v.i < len(v.b) {
		c := v.b[v.i]
		if !strClass[c] {
			v.i++
			continue
		}
		switch {
		case c == '"':
			v.i++
			return nil
		case c == '\\':
			if v.i+1 >= len(v.b) {
				return v.errf("unexpected end of input in a string escape")
			}
			switch v.b[v.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				v.i += 2
			case 'u':
				if v.i+6 > len(v.b) {
					return v.errf("unexpected end of input in a \\u escape")
				}
				for _, h := range v.b[v.i+2 : v.i+6] {
					if !isHexDigit(h) {
						return v.errf("invalid \\u escape")
					}
				}
				v.i += 6
			default:
				return v.errf("invalid escape \\%c", v.b[v.i+1])
			}
		default:
			return v.errf("control character %#02x in a string", c)
		}
	}
	return v.errf("unexpected end of input in a string")
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (v *validator) digits() int {
	n := 0
	for v.i < len(v.b) && v.b[v.i] >= '0' && v.b[v.i] <= '9' {
		v.i++
		n++
	}
	return n
}

func (v *validator) number() error {
	if v.b[v.i] == '-' {
		v.i++
	}
	if v.i < len(v.b) && v.b[v.i] == '0' {
		v.i++
	} else if v.digits() == 0 {
		return v.errf("invalid number")
	}
	if v.i < len(v.b) && v.b[v.i] == '.' {
		v.i++
		if v.digits() == 0 {
			return v.errf("invalid number: no digit after the decimal point")
		}
	}
	if v.i < len(v.b) && (v.b[v.i] == 'e' || v.b[v.i] == 'E') {
		v.i++
		if v.i < len(v.b) && (v.b[v.i] == '+' || v.b[v.i] == '-') {
			v.i++
		}
		if v.digits() == 0 {
			return v.errf("invalid number: no digit in the exponent")
		}
	}
	return nil
}

func (v *validator) literal(lit string) error {
	if !bytes.HasPrefix(v.b[v.i:], []byte(lit)) {
		return v.errf("invalid literal, expected %s", lit)
	}
	v.i += len(lit)
	return nil
}

// The functions below take JSON already checked by validJSON.

// skipWS returns the index of the first non-whitespace byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just after the valid value starting at i.
// Strings are skipped with bytes.IndexByte, so a long string costs a
// memory scan rather than a byte-by-byte state machine.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
	default: // number or literal
		for i < len(b) {
			switch b[i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// skipString returns the index just after the string whose opening quote
// is at i.
func skipString(b []byte, i int) int {
	i++
	for {
		q := bytes.IndexByte(b[i:], '"')
		end := i + q
		// The quote closes the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for k := end - 1; k >= i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return end + 1
		}
		i = end + 1
	}
}

// elements returns the values of a valid JSON array as sub-slices of raw.
func elements(raw []byte) []json.RawMessage {
	var out []json.RawMessage
	i := skipWS(raw, 1)
	if raw[i] == ']' {
		return out
	}
	for {
		end := skipValue(raw, i)
		out = append(out, raw[i:end])
		i = skipWS(raw, end)
		if raw[i] == ']' {
			return out
		}
		i = skipWS(raw, i+1) // the comma
	}
}

// members calls fn with each key (unescaped) and value (a sub-slice of
// raw) of a valid JSON object, in order.
func members(raw []byte, fn func(key string, val json.RawMessage)) {
	i := skipWS(raw, 1)
	if raw[i] == '}' {
		return
	}
	for {
		kEnd := skipString(raw, i)
		key := unquote(raw[i:kEnd])
		i = skipWS(raw, skipWS(raw, kEnd)+1) // the colon
		vEnd := skipValue(raw, i)
		fn(key, raw[i:vEnd])
		i = skipWS(raw, vEnd)
		if raw[i] == '}' {
			return
		}
		i = skipWS(raw, i+1)
	}
}

// rawString returns the contents of a valid JSON string without its
// quotes when it holds no escape, so it can be used as is.
func rawString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return nil, false
	}
	s := raw[1 : len(raw)-1]
	return s, bytes.IndexByte(s, '\\') < 0
}

// unquote returns the text of a valid JSON string, as encoding/json
// would (escapes resolved, invalid UTF-8 replaced).
func unquote(raw []byte) string {
	if s, ok := rawString(raw); ok && utf8.Valid(s) {
		return string(s)
	}
	var out string
	json.Unmarshal(raw, &out) // cannot fail on a string validJSON accepted (FuzzValidJSON)
	return out
}
