package consensus

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/wire"
)

var update = flag.Bool("update", false, "rewrite testdata/genesis_block.hex")

// Golden genesis block ids. Changing genesis.json or the encoding changes
// them; that is a new network, never a silent change.
const (
	goldenGenesisID    = "0000b1551e4d92259a8e54980bcb3337c65bd6b7e65c4b0cd00a966b5f3a5293"
	goldenDevGenesisID = "38e99f0dd4ec50a201a128618a6abdddd58c9787488878e3e63d921a7524c2c7"
	goldenDevAddress   = "tlyd1q89r9aqc6yrkk9k94jkvycrwq5cnf72zafx0w5k"
)

const goldenBlockFile = "testdata/genesis_block.hex"

func TestGenesisFilesIdentical(t *testing.T) {
	top, err := os.ReadFile("../genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := os.ReadFile("genesis.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(top, embedded) || !bytes.Equal(top, DefaultGenesisJSON) {
		t.Fatal("genesis.json and consensus/genesis.json differ: copy the top-level file over consensus/genesis.json")
	}
}

func TestGenesisGolden(t *testing.T) {
	p, err := Default(false)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.GenesisID.String(); got != goldenGenesisID {
		t.Errorf("genesis id %s, want %s", got, goldenGenesisID)
	}
	enc := p.Genesis.Encode()
	if *update {
		if err := os.WriteFile(goldenBlockFile, []byte(hex.EncodeToString(enc)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(goldenBlockFile)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, golden) {
		t.Fatalf("genesis encoding\n got %x\nwant %x", enc, golden)
	}

	// Recompute from the golden bytes alone: the id is H2 of the first 88
	// bytes, and the block decodes to the same id.
	if got := wire.H2(golden[:wire.HeaderSize]).String(); got != goldenGenesisID {
		t.Errorf("H2(golden header) = %s, want %s", got, goldenGenesisID)
	}
	blk, err := wire.DecodeBlock(golden)
	if err != nil {
		t.Fatal(err)
	}
	if blk.BlockID() != p.GenesisID {
		t.Errorf("decoded golden block id %s, want %s", blk.BlockID(), p.GenesisID)
	}
	checkGenesisBlock(t, p)
}

// checkGenesisBlock rebuilds the genesis block's fields by hand from the
// parameters and compares.
func checkGenesisBlock(t *testing.T, p *Params) {
	t.Helper()
	b := p.Genesis
	if len(b.Txs) != 1 {
		t.Fatalf("genesis has %d txs", len(b.Txs))
	}
	cb := b.Txs[0]
	if cb.Version != 1 || len(cb.Inputs) != 0 || cb.LockTime != 0 {
		t.Errorf("coinbase version %d, %d inputs, lock time %d", cb.Version, len(cb.Inputs), cb.LockTime)
	}
	wantExtra := binary.LittleEndian.AppendUint64(nil, 0)
	wantExtra = append(wantExtra, p.GenesisMessage...)
	if !bytes.Equal(cb.Extra, wantExtra) {
		t.Errorf("coinbase extra %x, want %x", cb.Extra, wantExtra)
	}
	if len(cb.Outputs) != len(p.Allocations) {
		t.Fatalf("coinbase has %d outputs, %d allocations", len(cb.Outputs), len(p.Allocations))
	}
	for i, a := range p.Allocations {
		if cb.Outputs[i].Amount != a.Amount || cb.Outputs[i].PKH != a.PKH {
			t.Errorf("output %d = %+v, allocation %+v", i, cb.Outputs[i], a)
		}
	}
	// One leaf: the root is H(0x00 || txid).
	txid := cb.TxID()
	wantRoot := sha256.Sum256(append([]byte{0}, txid[:]...))
	h := b.Header
	if h.Version != 1 || !h.PrevBlock.IsZero() || h.MerkleRoot != wire.Hash(wantRoot) ||
		h.Time != p.GenesisTime || h.Bits != p.GenesisBits || h.Nonce != p.GenesisNonce {
		t.Errorf("genesis header %+v", h)
	}
	if p.GenesisID != h.BlockID() {
		t.Errorf("GenesisID %s, header id %s", p.GenesisID, h.BlockID())
	}
	if err := CheckProofOfWork(p.GenesisID, h.Bits, p.PowLimit); err != nil {
		t.Errorf("genesis proof of work: %v", err)
	}
}

func TestDefaultPublicParams(t *testing.T) {
	p, err := Default(false)
	if err != nil {
		t.Fatal(err)
	}
	if p.Network != "tally" || p.NetworkID != [4]byte{0x7a, 0x11, 0xe0, 0x01} || p.AddressPrefix != "tly" {
		t.Errorf("identity %q %x %q", p.Network, p.NetworkID, p.AddressPrefix)
	}
	if p.PowLimitBits != 0x1f00ffff || p.GenesisBits != 0x1f00ffff || p.PowLimit.Cmp(CompactToBig(0x1f00ffff)) != 0 {
		t.Errorf("bits %08x / %08x, limit %x", p.PowLimitBits, p.GenesisBits, p.PowLimit)
	}
	if p.TargetSpacing != 600 || p.AsertHalfLife != 172800 || p.MaxBlockBytes != 1000000 ||
		p.MaxTxBytes != 100000 || p.CoinbaseMaturity != 100 || p.InitialSubsidy != 5000000000 ||
		p.HalvingInterval != 210000 || p.MaxMoney != 2100000000000000 || p.MaxFutureSeconds != 7200 ||
		p.RPCPort != 8645 || p.P2PPort != 8646 || len(p.Bootstrap) != 0 {
		t.Errorf("parameters %+v", p)
	}
	// The public allocation is a placeholder: the key H("tally foundation")
	// is public, so it must be replaced before a real launch.
	seed := sha256.Sum256([]byte("tally foundation"))
	pkh := wire.Hash160(secp256k1.PrivKeyFromBytes(seed[:]).PubKey().SerializeCompressed())
	if len(p.Allocations) != 1 || p.Allocations[0].PKH != pkh || p.Allocations[0].Amount != 1_000_000*100_000_000 {
		t.Errorf("allocations %+v, want 1,000,000 TALLY to %x", p.Allocations, pkh)
	}
}

func TestDevParams(t *testing.T) {
	pub, err := Default(false)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Default(true)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.GenesisID.String(); got != goldenDevGenesisID {
		t.Errorf("dev genesis id %s, want %s", got, goldenDevGenesisID)
	}
	checkGenesisBlock(t, p)
	if p.Network != "tally-dev" || p.NetworkID != [4]byte{0x7a, 0x11, 0xde, 0x00} || p.AddressPrefix != "tlyd" {
		t.Errorf("identity %q %x %q", p.Network, p.NetworkID, p.AddressPrefix)
	}
	if p.AsertHalfLife != 0 || p.CoinbaseMaturity != 10 || p.PowLimitBits != 0x207fffff || p.GenesisBits != 0x207fffff {
		t.Errorf("dev overrides: half life %d, maturity %d, bits %08x/%08x", p.AsertHalfLife, p.CoinbaseMaturity, p.PowLimitBits, p.GenesisBits)
	}
	// Merged field by field: what the dev object leaves out is inherited,
	// inside "genesis" too.
	if p.GenesisTime != pub.GenesisTime || p.GenesisMessage != pub.GenesisMessage ||
		p.TargetSpacing != pub.TargetSpacing || p.MaxMoney != pub.MaxMoney || p.MaxBlockBytes != pub.MaxBlockBytes {
		t.Errorf("dev did not inherit the public fields: %+v", p)
	}
	// A dev node has ports of its own, so it runs beside a public node.
	if p.RPCPort == pub.RPCPort || p.P2PPort == pub.P2PPort {
		t.Errorf("dev ports %d/%d are the public network's", p.RPCPort, p.P2PPort)
	}
	// The allocations array is replaced whole, by one paying the dev key.
	if len(p.Allocations) != 1 || p.Allocations[0].PKH != DevPKH() || p.Allocations[0].Address != goldenDevAddress {
		t.Errorf("dev allocations %+v, want one to the dev key %x", p.Allocations, DevPKH())
	}
	addr, err := wire.EncodeAddress("tlyd", DevPKH())
	if err != nil || addr != goldenDevAddress {
		t.Errorf("dev key address %s, %v; want %s", addr, err, goldenDevAddress)
	}
	seed := sha256.Sum256([]byte("tally dev key"))
	if !bytes.Equal(DevPrivateKey().Serialize(), seed[:]) {
		t.Error("DevPrivateKey is not SHA-256(\"tally dev key\")")
	}
}

// mutate returns the default genesis.json with change applied to its
// generic JSON form.
func mutate(t *testing.T, change func(m map[string]any)) []byte {
	t.Helper()
	m, err := decodeObject(DefaultGenesisJSON)
	if err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func genesisObj(m map[string]any) map[string]any { return m["genesis"].(map[string]any) }

func devObj(m map[string]any) map[string]any { return m["dev"].(map[string]any) }

func set(key string, v any) func(map[string]any) {
	return func(m map[string]any) { m[key] = v }
}

func setGenesis(key string, v any) func(map[string]any) {
	return func(m map[string]any) { genesisObj(m)[key] = v }
}

func setAlloc(key string, v any) func(map[string]any) {
	return func(m map[string]any) {
		genesisObj(m)["allocations"].([]any)[0].(map[string]any)[key] = v
	}
}

func TestLoadGenesisErrors(t *testing.T) {
	const pubAddr = "tly1q87uynck5kzezelgw83aen876f6ew8p46hhwqvs"
	tests := []struct {
		name   string
		change func(map[string]any)
		dev    bool
		field  string // the GenesisError's Field
	}{
		{"empty network", set("network", ""), false, "network"},
		{"assume valid short", set("assume_valid", "00ff"), false, "assume_valid"},
		{"assume valid upper", set("assume_valid", "00000000000000000000000000000000000000000000000000000000000000AB"), false, "assume_valid"},
		{"assume valid not hex", set("assume_valid", "zz000000000000000000000000000000000000000000000000000000000000ab"), false, "assume_valid"},
		{"assume valid number", set("assume_valid", 5), false, "assume_valid"},
		{"network with space", set("network", "tal ly"), false, "network"},
		{"network id short", set("network_id", "7a11e0"), false, "network_id"},
		{"network id upper", set("network_id", "7A11E001"), false, "network_id"},
		{"network id not hex", set("network_id", "7a11e00g"), false, "network_id"},
		{"network id number", set("network_id", 7), false, "network_id"},
		{"empty prefix", set("address_prefix", ""), false, "address_prefix"},
		{"upper prefix", set("address_prefix", "TLY"), false, "address_prefix"},
		{"missing field", func(m map[string]any) { delete(m, "max_block_bytes") }, false, "max_block_bytes"},
		{"missing genesis field", func(m map[string]any) { delete(genesisObj(m), "nonce") }, false, "genesis.nonce"},
		{"genesis not object", set("genesis", []any{}), false, "genesis"},
		{"unknown field", set("max_blok_bytes", 5), false, "max_blok_bytes"},
		{"unknown genesis field", setGenesis("height", 0), false, "genesis.height"},
		{"max block bytes 0", set("max_block_bytes", 0), false, "max_block_bytes"},
		{"max block bytes small", set("max_block_bytes", 999), false, "max_block_bytes"},
		{"max block bytes huge", set("max_block_bytes", 32<<20+1), false, "max_block_bytes"},
		{"max block bytes float", set("max_block_bytes", 1e6+0.5), false, "max_block_bytes"},
		{"max block bytes string", set("max_block_bytes", "1000000"), false, "max_block_bytes"},
		{"max tx bytes 0", set("max_tx_bytes", 0), false, "max_tx_bytes"},
		{"max tx bytes over block", set("max_tx_bytes", 1000001), false, "max_tx_bytes"},
		{"pow limit zero", set("pow_limit_bits", "00000000"), false, "pow_limit_bits"},
		{"pow limit negative", set("pow_limit_bits", "1f80ffff"), false, "pow_limit_bits"},
		{"pow limit overflow", set("pow_limit_bits", "ff123456"), false, "pow_limit_bits"},
		{"pow limit 7 digits", set("pow_limit_bits", "1f00fff"), false, "pow_limit_bits"},
		{"pow limit upper", set("pow_limit_bits", "1F00FFFF"), false, "pow_limit_bits"},
		{"pow limit not canonical", set("pow_limit_bits", "1e0000ff"), false, "pow_limit_bits"},
		{"genesis bits above limit", setGenesis("bits", "2000ffff"), false, "genesis.bits"},
		{"genesis bits bad", setGenesis("bits", "zzzzzzzz"), false, "genesis.bits"},
		{"genesis time 0", setGenesis("time", 0), false, "genesis.time"},
		{"genesis time negative", setGenesis("time", -1), false, "genesis.time"},
		{"genesis time string", setGenesis("time", "now"), false, "genesis.time"},
		{"genesis nonce wrong", setGenesis("nonce", 0), false, "genesis.nonce"},
		{"message too long", setGenesis("message", strings.Repeat("x", 93)), false, "genesis.message"},
		{"no allocations", setGenesis("allocations", []any{}), false, "genesis.allocations"},
		{"allocation wrong prefix", setAlloc("address", goldenDevAddress), false, "genesis.allocations[0].address"},
		{"allocation bad checksum", setAlloc("address", pubAddr[:len(pubAddr)-1]+"q"), false, "genesis.allocations[0].address"},
		{"allocation amount 0", setAlloc("amount", 0), false, "genesis.allocations[0].amount"},
		{"allocation over max money", setAlloc("amount", uint64(2100000000000001)), false, "genesis.allocations[0].amount"},
		{"allocation negative", setAlloc("amount", -5), false, "genesis.allocations.amount"},
		{"allocations sum over max money", setGenesis("allocations", []any{
			map[string]any{"address": pubAddr, "amount": uint64(2000000000000000)},
			map[string]any{"address": pubAddr, "amount": uint64(200000000000000)},
		}), false, "genesis.allocations[1].amount"},
		{"allocation unknown field", setAlloc("memo", "x"), false, "genesis.allocations[0].memo"},
		{"spacing 0", set("target_spacing_seconds", 0), false, "target_spacing_seconds"},
		{"half life negative", set("asert_half_life_seconds", -1), false, "asert_half_life_seconds"},
		{"maturity negative", set("coinbase_maturity", -1), false, "coinbase_maturity"},
		{"halving interval 0", set("halving_interval", 0), false, "halving_interval"},
		{"subsidy 0", set("initial_subsidy", 0), false, "initial_subsidy"},
		{"subsidy over max money", set("initial_subsidy", uint64(2100000000000001)), false, "initial_subsidy"},
		{"max money 0", set("max_money", 0), false, "max_money"},
		{"max money over int64", set("max_money", uint64(1)<<63), false, "max_money"},
		{"future 0", set("max_future_seconds", 0), false, "max_future_seconds"},
		{"rpc port 0", set("rpc_port", 0), false, "rpc_port"},
		{"rpc port 65536", set("rpc_port", 65536), false, "rpc_port"},
		{"p2p port same as rpc", set("p2p_port", 8645), false, "p2p_port"},
		{"bootstrap not multiaddr", set("bootstrap", []any{"example.com:8646"}), false, "bootstrap[0]"},
		{"dev not object", set("dev", 5), false, "dev"},
		{"dev missing", func(m map[string]any) { delete(m, "dev") }, true, "dev"},
		{"dev nested dev", func(m map[string]any) { devObj(m)["dev"] = map[string]any{} }, false, "dev.dev"},
		{"dev unknown field", func(m map[string]any) { devObj(m)["asert_half_life"] = 0 }, true, "asert_half_life"},
		{"dev allocation wrong prefix", func(m map[string]any) {
			genesisObj(devObj(m))["allocations"] = []any{map[string]any{"address": pubAddr, "amount": 1}}
		}, true, "genesis.allocations[0].address"},
		{"dev nonce wrong", func(m map[string]any) { genesisObj(devObj(m))["nonce"] = 0 }, true, "genesis.nonce"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadGenesis(mutate(t, tc.change), tc.dev)
			var ge *GenesisError
			if !errors.As(err, &ge) {
				t.Fatalf("error %v (%T), want a *GenesisError naming %q", err, err, tc.field)
			}
			if ge.Field != tc.field || ge.Dev != tc.dev || !strings.Contains(err.Error(), fmt.Sprintf("field %q: ", tc.field)) {
				t.Fatalf("error %q, want one naming field %q", err, tc.field)
			}
		})
	}
}

func TestGenesisErrorText(t *testing.T) {
	_, err := LoadGenesis(mutate(t, set("max_block_bytes", 0)), false)
	if want := `genesis.json: field "max_block_bytes": must be > 0, got 0`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	_, err = LoadGenesis(mutate(t, setAlloc("address", goldenDevAddress)), false)
	if !errors.Is(err, wire.ErrBadAddress) {
		t.Errorf("bad address error %v does not wrap wire.ErrBadAddress", err)
	}
	_, err = LoadGenesis(mutate(t, func(m map[string]any) { genesisObj(devObj(m))["nonce"] = 0 }), true)
	if want := `genesis.json (dev network): field "genesis.nonce": `; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q, want prefix %q", err, want)
	}
	if !errors.Is(err, ErrBadPoW) {
		t.Errorf("nonce error %v does not wrap ErrBadPoW", err)
	}
}

func TestLoadGenesisMalformed(t *testing.T) {
	for _, in := range []string{``, `[]`, `{"network":`, string(DefaultGenesisJSON) + `{}`} {
		var ge *GenesisError
		if _, err := LoadGenesis([]byte(in), false); !errors.As(err, &ge) || ge.Field != "" {
			t.Errorf("LoadGenesis(%.20q) = %v, want a *GenesisError for the whole file", in, err)
		}
	}
	// A mutation that keeps the file valid still loads (the table above
	// fails for the named reason, not for the round trip through JSON).
	if _, err := LoadGenesis(mutate(t, func(map[string]any) {}), false); err != nil {
		t.Fatal(err)
	}
}

// TestAssumeValidField: assume_valid is optional, empty means none, and a
// block id is taken as given.
func TestAssumeValidField(t *testing.T) {
	const id = "00000000000000000000000000000000000000000000000000000000000000ab"
	for _, tc := range []struct {
		change func(map[string]any)
		want   string
	}{
		{func(m map[string]any) { delete(m, "assume_valid") }, ""},
		{set("assume_valid", ""), ""},
		{set("assume_valid", id), id},
	} {
		p, err := LoadGenesis(mutate(t, tc.change), false)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		if p.AssumeValid != (wire.Hash{}) {
			got = p.AssumeValid.String()
		}
		if got != tc.want {
			t.Fatalf("assume_valid %q, want %q", got, tc.want)
		}
	}
}
