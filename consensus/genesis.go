package consensus

import (
	"bytes"
	_ "embed" // DefaultGenesisJSON
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/big"
	"slices"
	"strings"
	"unicode/utf8"

	"tally/wire"
)

// DefaultGenesisJSON is the public network's genesis.json (a copy of the
// repository's top-level genesis.json; a test keeps the two identical).
//
//go:embed genesis.json
var DefaultGenesisJSON []byte

// Default returns the parameters of the embedded public network, or of the
// dev network with dev set.
func Default(dev bool) (*Params, error) {
	return LoadGenesis(DefaultGenesisJSON, dev)
}

// Bounds that LoadGenesis enforces beyond those SPEC section 3 states.
const (
	minMaxBlockBytes = 1000
	maxMaxBlockBytes = 32 << 20
	// minMaxTxBytes fits a transaction with one input and one output
	// (176 bytes) with room to spare.
	minMaxTxBytes       = 200
	maxTargetSpacing    = 86400
	maxAsertHalfLife    = 1 << 32
	maxCoinbaseMaturity = 1_000_000
	maxFutureSeconds    = 1 << 31
	maxGenesisTime      = 1 << 62
	maxNameBytes        = 64
	maxHRPBytes         = 50 // an address of 90 characters at most
)

// genesisFile is the strict shape of genesis.json after the dev merge.
// Integer fields are signed where a negative value deserves a clear
// message rather than a type error.
type genesisFile struct {
	Network          string       `json:"network"`
	NetworkID        string       `json:"network_id"`
	AddressPrefix    string       `json:"address_prefix"`
	Genesis          genesisBlock `json:"genesis"`
	PowLimitBits     string       `json:"pow_limit_bits"`
	TargetSpacing    int64        `json:"target_spacing_seconds"`
	AsertHalfLife    int64        `json:"asert_half_life_seconds"`
	MaxBlockBytes    int64        `json:"max_block_bytes"`
	MaxTxBytes       int64        `json:"max_tx_bytes"`
	CoinbaseMaturity int64        `json:"coinbase_maturity"`
	InitialSubsidy   uint64       `json:"initial_subsidy"`
	HalvingInterval  int64        `json:"halving_interval"`
	MaxMoney         uint64       `json:"max_money"`
	MaxFutureSeconds int64        `json:"max_future_seconds"`
	RPCPort          int64        `json:"rpc_port"`
	P2PPort          int64        `json:"p2p_port"`
	Bootstrap        []string     `json:"bootstrap"`
	AssumeValid      string       `json:"assume_valid"`
}

type genesisBlock struct {
	Time        uint64            `json:"time"`
	Bits        string            `json:"bits"`
	Nonce       uint64            `json:"nonce"`
	Message     string            `json:"message"`
	Allocations []allocationEntry `json:"allocations"`
}

type allocationEntry struct {
	Address string `json:"address"`
	Amount  uint64 `json:"amount"`
}

// requiredFields lists the fields genesis.json must hold (after the dev
// merge); only bootstrap and assume_valid may be left out (dev is removed
// by the merge).
var requiredFields = []string{
	"network", "network_id", "address_prefix", "genesis", "pow_limit_bits",
	"target_spacing_seconds", "asert_half_life_seconds", "max_block_bytes",
	"max_tx_bytes", "coinbase_maturity", "initial_subsidy", "halving_interval",
	"max_money", "max_future_seconds", "rpc_port", "p2p_port",
}

var requiredGenesisFields = []string{"time", "bits", "nonce", "message", "allocations"}

// GenesisError is a problem with genesis.json. Field names the field at
// fault as a dotted path with array indexes ("genesis.allocations[0].amount");
// it is empty when the file as a whole is at fault.
type GenesisError struct {
	Field string
	Dev   bool // found while loading the dev network
	Err   error
}

// Error returns "genesis.json: field "name": what is wrong".
func (e *GenesisError) Error() string {
	s := "genesis.json"
	if e.Dev {
		s += " (dev network)"
	}
	if e.Field != "" {
		s += fmt.Sprintf(": field %q", e.Field)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *GenesisError) Unwrap() error { return e.Err }

// fieldError names the genesis.json field at fault. format may use %w.
func fieldError(field, format string, args ...any) error {
	return &GenesisError{Field: field, Err: fmt.Errorf(format, args...)}
}

// LoadGenesis parses and validates genesis.json (SPEC section 3), builds
// the genesis block and returns the network's parameters. With dev set,
// the "dev" object is merged over the top level first: field by field,
// recursively inside objects such as "genesis", while any other value
// (an array such as "allocations" included) is replaced whole. Unknown
// fields are errors. Every error is a *GenesisError naming the field at
// fault.
func LoadGenesis(data []byte, dev bool) (*Params, error) {
	p, err := loadGenesis(data, dev)
	if err != nil {
		var ge *GenesisError
		if !errors.As(err, &ge) {
			ge = &GenesisError{Err: err}
		}
		ge.Dev = dev
		return nil, ge
	}
	return p, nil
}

func loadGenesis(data []byte, dev bool) (*Params, error) {
	doc, err := decodeObject(data)
	if err != nil {
		return nil, err
	}
	devObj, hasDev := doc["dev"]
	delete(doc, "dev")
	if hasDev {
		d, ok := devObj.(map[string]any)
		if !ok {
			return nil, fieldError("dev", "must be an object")
		}
		if _, nested := d["dev"]; nested {
			return nil, fieldError("dev.dev", "a dev object cannot hold another")
		}
		if dev {
			mergeJSON(doc, d)
		}
	} else if dev {
		return nil, fieldError("dev", "missing: the dev network needs a dev object")
	}
	if err := checkFields(doc); err != nil {
		return nil, err
	}

	merged, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var f genesisFile
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields() // a backstop: checkFields names the field
	if err := dec.Decode(&f); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fieldError(typeErr.Field, "got %s, want %s", typeErr.Value, typeErr.Type)
		}
		return nil, err
	}
	return f.params()
}

// decodeObject parses one JSON object, keeping numbers exact.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the top-level object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("the top level must be an object")
	}
	return obj, nil
}

// mergeJSON merges src over dst: objects field by field, anything else
// (arrays included) replaced whole.
func mergeJSON(dst, src map[string]any) {
	for k, sv := range src {
		if so, ok := sv.(map[string]any); ok {
			if do, ok := dst[k].(map[string]any); ok {
				mergeJSON(do, so)
				continue
			}
		}
		dst[k] = sv
	}
}

var (
	optionalFields   = []string{"bootstrap", "assume_valid"}
	allocationFields = []string{"address", "amount"}
)

// checkKeys reports the first missing required key and the first unknown
// key of obj (in sorted order, so errors are deterministic).
func checkKeys(obj map[string]any, prefix string, required, optional []string) error {
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			return fieldError(prefix+k, "missing")
		}
	}
	keys := slices.Sorted(maps.Keys(obj))
	for _, k := range keys {
		if !slices.Contains(required, k) && !slices.Contains(optional, k) {
			return fieldError(prefix+k, "unknown field")
		}
	}
	return nil
}

// checkFields checks the merged document for missing and unknown fields,
// naming them by their full path.
func checkFields(doc map[string]any) error {
	if err := checkKeys(doc, "", requiredFields, optionalFields); err != nil {
		return err
	}
	g, ok := doc["genesis"].(map[string]any)
	if !ok {
		return fieldError("genesis", "must be an object")
	}
	if err := checkKeys(g, "genesis.", requiredGenesisFields, nil); err != nil {
		return err
	}
	allocs, _ := g["allocations"].([]any)
	for i, a := range allocs {
		obj, ok := a.(map[string]any)
		if !ok {
			return fieldError(fmt.Sprintf("genesis.allocations[%d]", i), "must be an object")
		}
		if err := checkKeys(obj, fmt.Sprintf("genesis.allocations[%d].", i), allocationFields, nil); err != nil {
			return err
		}
	}
	return nil
}

// parseHex4 parses exactly 8 lowercase hex digits.
func parseHex4(field, s string) ([4]byte, error) {
	var b [4]byte
	if len(s) != 8 || strings.ToLower(s) != s {
		return b, fieldError(field, "%q must be exactly 8 lowercase hex digits", s)
	}
	if _, err := hex.Decode(b[:], []byte(s)); err != nil {
		return b, fieldError(field, "%q must be exactly 8 lowercase hex digits", s)
	}
	return b, nil
}

// parseBits parses compact bits written as 8 lowercase hex digits and
// checks that they encode a valid target in canonical form.
func parseBits(field, s string) (uint32, *big.Int, error) {
	b, err := parseHex4(field, s)
	if err != nil {
		return 0, nil, err
	}
	bits := binary.BigEndian.Uint32(b[:])
	target, err := CompactToTarget(bits)
	if err != nil {
		return 0, nil, fieldError(field, "%w", err)
	}
	if c := BigToCompact(target); c != bits {
		return 0, nil, fieldError(field, "%q is not in canonical compact form (%08x)", s, c)
	}
	return bits, target, nil
}

func checkName(field, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fieldError(field, "must be 1 to %d characters", maxLen)
	}
	for _, r := range s {
		if r <= ' ' || r > '~' || (r >= 'A' && r <= 'Z') {
			return fieldError(field, "%q: only lowercase printable ASCII without spaces", s)
		}
	}
	return nil
}

func checkRange(field string, v, lo, hi int64) error {
	switch {
	case v >= lo && v <= hi:
		return nil
	case hi == math.MaxInt64 && lo == 1:
		return fieldError(field, "must be > 0, got %d", v)
	case hi == math.MaxInt64:
		return fieldError(field, "must be >= %d, got %d", lo, v)
	case lo == 0 && v < 0:
		return fieldError(field, "must be >= 0, got %d", v)
	}
	return fieldError(field, "must be between %d and %d, got %d", lo, hi, v)
}

// params validates the decoded file and builds the Params and genesis
// block.
func (f *genesisFile) params() (*Params, error) {
	p := &Params{
		Network:          f.Network,
		AddressPrefix:    f.AddressPrefix,
		GenesisTime:      f.Genesis.Time,
		GenesisNonce:     f.Genesis.Nonce,
		GenesisMessage:   f.Genesis.Message,
		TargetSpacing:    f.TargetSpacing,
		AsertHalfLife:    f.AsertHalfLife,
		MaxBlockBytes:    int(f.MaxBlockBytes),
		MaxTxBytes:       int(f.MaxTxBytes),
		CoinbaseMaturity: uint64(f.CoinbaseMaturity),
		InitialSubsidy:   f.InitialSubsidy,
		HalvingInterval:  uint64(f.HalvingInterval),
		MaxMoney:         f.MaxMoney,
		MaxFutureSeconds: f.MaxFutureSeconds,
		RPCPort:          int(f.RPCPort),
		P2PPort:          int(f.P2PPort),
		Bootstrap:        append([]string{}, f.Bootstrap...),
	}
	var err error
	if err = checkName("network", f.Network, maxNameBytes); err != nil {
		return nil, err
	}
	if p.NetworkID, err = parseHex4("network_id", f.NetworkID); err != nil {
		return nil, err
	}
	if err = checkName("address_prefix", f.AddressPrefix, maxHRPBytes); err != nil {
		return nil, err
	}
	if p.PowLimitBits, p.PowLimit, err = parseBits("pow_limit_bits", f.PowLimitBits); err != nil {
		return nil, err
	}
	var genesisTarget *big.Int
	if p.GenesisBits, genesisTarget, err = parseBits("genesis.bits", f.Genesis.Bits); err != nil {
		return nil, err
	}
	if genesisTarget.Cmp(p.PowLimit) > 0 {
		return nil, fieldError("genesis.bits", "target of %s is easier than pow_limit_bits %s", f.Genesis.Bits, f.PowLimitBits)
	}
	if f.Genesis.Time == 0 || f.Genesis.Time > maxGenesisTime {
		return nil, fieldError("genesis.time", "must be between 1 and 2^62, got %d", f.Genesis.Time)
	}
	checks := []struct {
		field  string
		v      int64
		lo, hi int64
	}{
		{"target_spacing_seconds", f.TargetSpacing, 1, maxTargetSpacing},
		{"asert_half_life_seconds", f.AsertHalfLife, 0, maxAsertHalfLife},
		{"max_block_bytes", f.MaxBlockBytes, 1, math.MaxInt64},
		{"max_block_bytes", f.MaxBlockBytes, minMaxBlockBytes, maxMaxBlockBytes},
		{"max_tx_bytes", f.MaxTxBytes, 1, math.MaxInt64},
		{"max_tx_bytes", f.MaxTxBytes, minMaxTxBytes, math.MaxInt64},
		{"coinbase_maturity", f.CoinbaseMaturity, 0, maxCoinbaseMaturity},
		{"halving_interval", f.HalvingInterval, 1, math.MaxInt64},
		{"max_future_seconds", f.MaxFutureSeconds, 1, maxFutureSeconds},
		{"rpc_port", f.RPCPort, 1, 65535},
		{"p2p_port", f.P2PPort, 1, 65535},
	}
	for _, c := range checks {
		if err := checkRange(c.field, c.v, c.lo, c.hi); err != nil {
			return nil, err
		}
	}
	if f.MaxTxBytes > f.MaxBlockBytes {
		return nil, fieldError("max_tx_bytes", "must be <= max_block_bytes %d, got %d", f.MaxBlockBytes, f.MaxTxBytes)
	}
	if f.RPCPort == f.P2PPort {
		return nil, fieldError("p2p_port", "must differ from rpc_port")
	}
	if f.MaxMoney == 0 || f.MaxMoney > math.MaxInt64 {
		return nil, fieldError("max_money", "must be between 1 and 2^63-1, got %d", f.MaxMoney)
	}
	if f.InitialSubsidy == 0 || f.InitialSubsidy > f.MaxMoney {
		return nil, fieldError("initial_subsidy", "must be > 0 and <= max_money %d, got %d", f.MaxMoney, f.InitialSubsidy)
	}
	if f.AssumeValid != "" {
		if f.AssumeValid != strings.ToLower(f.AssumeValid) {
			return nil, fieldError("assume_valid", "must be lowercase hex")
		}
		if p.AssumeValid, err = wire.ParseHash(f.AssumeValid); err != nil {
			return nil, fieldError("assume_valid", "must be a block id of 64 hex digits or empty, got %q", f.AssumeValid)
		}
	}
	for i, addr := range f.Bootstrap {
		if !strings.HasPrefix(addr, "/") || strings.ContainsAny(addr, " \t\r\n") {
			return nil, fieldError(fmt.Sprintf("bootstrap[%d]", i), "%q is not a multiaddr", addr)
		}
	}

	msg := f.Genesis.Message
	if !utf8.ValidString(msg) {
		return nil, fieldError("genesis.message", "must be UTF-8 text")
	}
	if len(msg) > MaxCoinbaseFreeBytes {
		return nil, fieldError("genesis.message", "%d bytes, at most %d", len(msg), MaxCoinbaseFreeBytes)
	}
	if len(f.Genesis.Allocations) == 0 {
		return nil, fieldError("genesis.allocations", "at least one allocation is required (the genesis coinbase needs an output)")
	}
	var sum uint64
	for i, a := range f.Genesis.Allocations {
		field := fmt.Sprintf("genesis.allocations[%d]", i)
		pkh, err := wire.DecodeAddress(p.AddressPrefix, a.Address)
		if err != nil {
			return nil, fieldError(field+".address", "%w", err)
		}
		if a.Amount == 0 || a.Amount > f.MaxMoney {
			return nil, fieldError(field+".amount", "must be > 0 and <= max_money %d, got %d", f.MaxMoney, a.Amount)
		}
		if sum += a.Amount; sum < a.Amount || sum > f.MaxMoney {
			return nil, fieldError(field+".amount", "allocations sum to more than max_money %d", f.MaxMoney)
		}
		p.Allocations = append(p.Allocations, Allocation{Address: a.Address, PKH: pkh, Amount: a.Amount})
	}

	p.Genesis = buildGenesis(p)
	if n := p.Genesis.Txs[0].SerializeSize(); n > p.MaxTxBytes {
		return nil, fieldError("genesis.allocations", "the genesis coinbase is %d bytes, over max_tx_bytes %d", n, p.MaxTxBytes)
	}
	if n := p.Genesis.SerializeSize(); n > p.MaxBlockBytes {
		return nil, fieldError("genesis.allocations", "the genesis block is %d bytes, over max_block_bytes %d", n, p.MaxBlockBytes)
	}
	p.GenesisID = p.Genesis.BlockID()
	if err := CheckProofOfWork(p.GenesisID, p.GenesisBits, p.PowLimit); err != nil {
		return nil, fieldError("genesis.nonce", "%d does not give the genesis block proof of work: %w", p.GenesisNonce, err)
	}
	return p, nil
}

// genesisCoinbase returns the genesis coinbase of p: version 1, no inputs,
// the allocations as outputs in file order, lock time 0 and extra = height
// 0 as u64 followed by the message.
func genesisCoinbase(p *Params) *wire.Tx {
	tx := &wire.Tx{Version: 1, Extra: CoinbaseExtra(0, []byte(p.GenesisMessage))}
	for _, a := range p.Allocations {
		tx.Outputs = append(tx.Outputs, wire.TxOut{Amount: a.Amount, PKH: a.PKH})
	}
	return tx
}

// buildGenesis returns the genesis block that p's genesis fields define.
func buildGenesis(p *Params) *wire.Block {
	cb := genesisCoinbase(p)
	return &wire.Block{
		Header: wire.Header{
			Version:    1,
			MerkleRoot: wire.MerkleRoot([]wire.Hash{cb.TxID()}),
			Time:       p.GenesisTime,
			Bits:       p.GenesisBits,
			Nonce:      p.GenesisNonce,
		},
		Txs: []*wire.Tx{cb},
	}
}
