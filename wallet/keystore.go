package wallet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"

	"tally/wire"

	"tally/internal/atomicfile"
)

// The keystore file is a JSON envelope (version 1):
//
//	{
//	  "version": 1,
//	  "kdf": "argon2id",
//	  "kdf_params": {"time": 3, "memory_kib": 65536, "threads": 2},
//	  "salt": "<16 bytes, hex>",
//	  "nonce": "<24 bytes, hex>",
//	  "ciphertext": "<hex>"
//	}
//
// ("kdf": "scrypt" has "kdf_params": {"n": 131072, "r": 8, "p": 1}.) The
// ciphertext is XChaCha20-Poly1305 under the 32-byte key the KDF derives
// from the passphrase and salt, with the associated data
// "tally keystore v1", of the JSON plaintext
//
//	{
//	  "network": "tally", "address_prefix": "tly",
//	  "seed": "<64-byte BIP 39 seed with scheme bip32, or a legacy 32-byte seed; absent in a keystore of imported keys only>",
//	  "scheme": "bip32",
//	  "next_index": 2, "next_change": 1,
//	  "imported_keys": ["<32-byte private key, hex>", ...],
//	  "addresses": [
//	    {"address": "tly1...", "index": 0, "label": "savings"},
//	    {"address": "tly1...", "imported": true},
//	    {"address": "tly1...", "index": 1},
//	    {"address": "tly1...", "index": 0, "change": true}
//	  ]
//	}
//
// The envelope's "public" member repeats network, address_prefix and
// addresses in the clear (OpenPublic).
//
// Addresses are listed in the order they were made. Open re-derives every
// key and refuses a plaintext whose address list does not match its keys.
const keystoreVersion = 1

// KDF names as they appear in the keystore file.
const (
	KDFArgon2id = "argon2id"
	KDFScrypt   = "scrypt"
)

const (
	saltSize = 16
	keySize  = chacha20poly1305.KeySize
	// maxKeystoreBytes bounds the file Open reads: far above any real
	// keystore, far below what could exhaust memory.
	maxKeystoreBytes = 64 << 20
	// MaxAddresses is the most addresses (derived plus imported) a keystore
	// holds; Open refuses more.
	MaxAddresses = 1_000_000
	// Upper bounds on KDF costs accepted from a file, so a hostile file
	// cannot make Open allocate or spin without limit.
	maxKDFMemoryBytes = 4 << 30
	maxArgon2Time     = 1000
)

// Errors returned by the keystore. Each is wrapped with detail; test with
// errors.Is.
var (
	// ErrWrongPassphrase: the ciphertext does not authenticate under the key
	// from this passphrase, which is also what a modified file gives.
	ErrWrongPassphrase = errors.New("wrong passphrase or corrupted keystore")
	// ErrCorrupt: the file is truncated, not a keystore, or inconsistent.
	ErrCorrupt = errors.New("keystore file is corrupt or truncated")
	// ErrExists: Create found a file already at the path.
	ErrExists = errors.New("keystore file already exists")
	// ErrNoSeed: NewAddress on a keystore that holds only imported keys.
	ErrNoSeed = errors.New("keystore has no seed, only imported keys: it cannot derive new addresses")
	// ErrUnknownAddress: SetLabel of a key hash the wallet does not hold.
	ErrUnknownAddress = errors.New("address not in this wallet")
	// ErrNoPublicData: OpenPublic of a keystore written before keystores
	// kept their addresses in the clear; open it with the passphrase.
	ErrNoPublicData = errors.New("keystore has no public address list (written by an older wallet): the passphrase is needed once")
)

// KDFParams selects the passphrase key derivation function and its cost.
// The zero value means DefaultKDFParams().
type KDFParams struct {
	KDF string // KDFArgon2id or KDFScrypt

	// argon2id
	Time      uint32 // passes over memory
	MemoryKiB uint32 // memory in KiB
	Threads   uint8

	// scrypt
	N, R, P int
}

// DefaultKDFParams returns the argon2id parameters for real keystores:
// time 3, 64 MiB, 2 threads.
func DefaultKDFParams() KDFParams {
	return KDFParams{KDF: KDFArgon2id, Time: 3, MemoryKiB: 64 << 10, Threads: 2}
}

// DefaultScryptParams returns scrypt parameters for real keystores:
// N = 2^17, r = 8, p = 1 (128 MiB).
func DefaultScryptParams() KDFParams {
	return KDFParams{KDF: KDFScrypt, N: 1 << 17, R: 8, P: 1}
}

func (p KDFParams) validate() error {
	switch p.KDF {
	case KDFArgon2id:
		if p.Time < 1 || p.Time > maxArgon2Time {
			return fmt.Errorf("argon2id time %d outside [1, %d]", p.Time, maxArgon2Time)
		}
		if p.Threads < 1 {
			return errors.New("argon2id threads must be at least 1")
		}
		if p.MemoryKiB < 8*uint32(p.Threads) || uint64(p.MemoryKiB)<<10 > maxKDFMemoryBytes {
			return fmt.Errorf("argon2id memory %d KiB outside [%d, %d]", p.MemoryKiB, 8*uint32(p.Threads), maxKDFMemoryBytes>>10)
		}
		if p.N != 0 || p.R != 0 || p.P != 0 {
			return errors.New("argon2id parameters with scrypt's n, r, p set")
		}
	case KDFScrypt:
		if p.N < 2 || p.N&(p.N-1) != 0 {
			return fmt.Errorf("scrypt n %d is not a power of two above 1", p.N)
		}
		if p.R < 1 || p.P < 1 || uint64(p.R)*uint64(p.P) >= 1<<30 {
			return fmt.Errorf("scrypt r %d, p %d out of range", p.R, p.P)
		}
		if uint64(p.N)*uint64(p.R)*128 > maxKDFMemoryBytes {
			return fmt.Errorf("scrypt n %d, r %d need more than %d bytes", p.N, p.R, maxKDFMemoryBytes)
		}
		if p.Time != 0 || p.MemoryKiB != 0 || p.Threads != 0 {
			return errors.New("scrypt parameters with argon2id's time, memory, threads set")
		}
	default:
		return fmt.Errorf("unknown KDF %q (want %q or %q)", p.KDF, KDFArgon2id, KDFScrypt)
	}
	return nil
}

func (p KDFParams) deriveKey(passphrase, salt []byte) ([]byte, error) {
	switch p.KDF {
	case KDFArgon2id:
		return argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, keySize), nil
	case KDFScrypt:
		return scrypt.Key(passphrase, salt, p.N, p.R, p.P, keySize)
	}
	return nil, fmt.Errorf("unknown KDF %q", p.KDF)
}

// Network names the network a keystore belongs to: its name and its address
// prefix (bech32 HRP), as in genesis.json.
type Network struct {
	Name          string
	AddressPrefix string
}

// Address is one address of the wallet.
type Address struct {
	Address  string   // bech32m address
	PKH      [20]byte // public key hash
	Index    uint32   // derivation index; 0 and meaningless if Imported
	Imported bool     // an imported key rather than one derived from the seed
	Change   bool     // on the change chain (BIP 32 keystores: m/44'/7611'/0'/1/Index)
	Label    string
}

// Wallet is an open keystore. Changes (NewAddress, ImportKey, SetLabel)
// stay in memory until Save. Safe for concurrent use.
type Wallet struct {
	mu   sync.Mutex
	path string
	rand io.Reader

	kdf  KDFParams
	salt []byte
	key  []byte // AEAD key derived from the passphrase, kept so Save needs no KDF run

	net      Network
	seed     []byte    // nil if the keystore holds imported keys only
	hd       *hdChains // BIP 32 keystores: the chain keys from seed (64 bytes)
	next     uint32    // next index on the receive chain (the only chain of a legacy seed)
	nextChg  uint32    // next index on the change chain (BIP 32)
	imported []*secp256k1.PrivateKey
	addrs    []Address
	keys     map[[20]byte]*secp256k1.PrivateKey
	byPKH    map[[20]byte]int // index into addrs
}

// envelope is the keystore file.
type envelope struct {
	Version    int       `json:"version"`
	KDF        string    `json:"kdf"`
	KDFParams  kdfParams `json:"kdf_params"`
	Salt       string    `json:"salt"`
	Nonce      string    `json:"nonce"`
	Ciphertext string    `json:"ciphertext"`
	// Public repeats the network and address list in the clear, so that
	// balances and history need no passphrase (as Bitcoin Core keeps
	// public data unencrypted). Absent in keystores written before it;
	// Open ignores it (the encrypted list is authoritative) and every
	// Save rewrites it.
	Public *publicJSON `json:"public,omitempty"`
}

// publicJSON is the clear part of the keystore.
type publicJSON struct {
	Network       string        `json:"network"`
	AddressPrefix string        `json:"address_prefix"`
	Addresses     []addressJSON `json:"addresses"`
}

type kdfParams struct {
	Time      uint32 `json:"time,omitempty"`
	MemoryKiB uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
	N         int    `json:"n,omitempty"`
	R         int    `json:"r,omitempty"`
	P         int    `json:"p,omitempty"`
}

// plaintext is what the envelope encrypts.
type plaintext struct {
	Network       string        `json:"network"`
	AddressPrefix string        `json:"address_prefix"`
	Seed          string        `json:"seed,omitempty"`
	Scheme        string        `json:"scheme,omitempty"` // "bip32", or absent for a legacy 32-byte seed
	NextIndex     uint32        `json:"next_index"`
	NextChange    uint32        `json:"next_change,omitempty"`
	ImportedKeys  []string      `json:"imported_keys,omitempty"`
	Addresses     []addressJSON `json:"addresses"`
}

type addressJSON struct {
	Address  string  `json:"address"`
	Index    *uint32 `json:"index,omitempty"`
	Imported bool    `json:"imported,omitempty"`
	Change   bool    `json:"change,omitempty"`
	Label    string  `json:"label,omitempty"`
}

func aad() []byte { return []byte(fmt.Sprintf("tally keystore v%d", keystoreVersion)) }

// Create makes a new keystore at path, encrypted under passphrase with a key
// from params (the zero KDFParams means DefaultKDFParams()), and writes it
// with mode 0600. seed is a SeedSize-byte seed, or nil for a keystore that
// will hold only imported keys. Create refuses to replace an existing file
// (ErrExists) and refuses an empty passphrase. The new wallet has no
// addresses yet: call NewAddress or ImportKey, then Save.
func Create(path string, passphrase, seed []byte, net Network, params KDFParams) (*Wallet, error) {
	if params == (KDFParams{}) {
		params = DefaultKDFParams()
	}
	if err := params.validate(); err != nil {
		return nil, fmt.Errorf("keystore KDF parameters: %w", err)
	}
	if len(passphrase) == 0 {
		return nil, errors.New("keystore passphrase must not be empty")
	}
	if len(seed) != 0 && len(seed) != SeedSize && len(seed) != HDSeedSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d (BIP 39 seed) or %d (legacy)", ErrBadSeed, len(seed), HDSeedSize, SeedSize)
	}
	if err := net.validate(); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s (refusing to overwrite it; move it away or choose another --wallet path)", ErrExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checking keystore path: %w", err)
	}
	w := &Wallet{
		path:  path,
		rand:  rand.Reader,
		kdf:   params,
		salt:  make([]byte, saltSize),
		net:   net,
		keys:  make(map[[20]byte]*secp256k1.PrivateKey),
		byPKH: make(map[[20]byte]int),
	}
	if len(seed) != 0 {
		w.seed = append([]byte(nil), seed...)
		if len(seed) == HDSeedSize {
			c, err := newHDChains(w.seed)
			if err != nil {
				return nil, err
			}
			w.hd = &c
		}
	}
	if _, err := io.ReadFull(w.rand, w.salt); err != nil {
		return nil, fmt.Errorf("reading random salt: %w", err)
	}
	key, err := params.deriveKey(passphrase, w.salt)
	if err != nil {
		return nil, fmt.Errorf("deriving keystore key: %w", err)
	}
	w.key = key
	if err := w.write(true); err != nil {
		return nil, err
	}
	return w, nil
}

func (n Network) validate() error {
	if n.Name == "" {
		return errors.New("keystore network name must not be empty")
	}
	// The prefix is good if an address made with it decodes back.
	bad := fmt.Errorf("keystore address prefix %q is not a valid bech32 prefix", n.AddressPrefix)
	if n.AddressPrefix == "" || strings.ToLower(n.AddressPrefix) != n.AddressPrefix {
		return bad
	}
	pkh := [20]byte{19: 1}
	addr, err := wire.EncodeAddress(n.AddressPrefix, pkh)
	if err != nil {
		return bad
	}
	if got, err := wire.DecodeAddress(n.AddressPrefix, addr); err != nil || got != pkh {
		return bad
	}
	return nil
}

// Open reads and decrypts the keystore at path. A passphrase that does not
// decrypt it, or a file whose encrypted part was modified, gives
// ErrWrongPassphrase; a file that is not a complete keystore gives
// ErrCorrupt. Open never writes to the file.
func Open(path string, passphrase []byte) (*Wallet, error) {
	env, err := readEnvelope(path)
	if err != nil {
		return nil, err
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	params := KDFParams{
		KDF: env.KDF, Time: env.KDFParams.Time, MemoryKiB: env.KDFParams.MemoryKiB,
		Threads: env.KDFParams.Threads, N: env.KDFParams.N, R: env.KDFParams.R, P: env.KDFParams.P,
	}
	if err := params.validate(); err != nil {
		return nil, corrupt("KDF: %v", err)
	}
	salt, err := hex.DecodeString(env.Salt)
	if err != nil || len(salt) < saltSize {
		return nil, corrupt("salt is not %d or more bytes of hex", saltSize)
	}
	nonce, err := hex.DecodeString(env.Nonce)
	if err != nil || len(nonce) != chacha20poly1305.NonceSizeX {
		return nil, corrupt("nonce is not %d bytes of hex", chacha20poly1305.NonceSizeX)
	}
	ct, err := hex.DecodeString(env.Ciphertext)
	if err != nil || len(ct) < chacha20poly1305.Overhead {
		return nil, corrupt("ciphertext is not hex of at least %d bytes", chacha20poly1305.Overhead)
	}
	key, err := params.deriveKey(passphrase, salt)
	if err != nil {
		return nil, fmt.Errorf("deriving keystore key: %w", err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, nonce, ct, aad())
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("%w (%s)", ErrWrongPassphrase, path)
	}
	defer clear(pt)
	w := &Wallet{
		path:  path,
		rand:  rand.Reader,
		kdf:   params,
		salt:  salt,
		key:   key,
		keys:  make(map[[20]byte]*secp256k1.PrivateKey),
		byPKH: make(map[[20]byte]int),
	}
	if err := w.load(pt); err != nil {
		clear(key)
		return nil, corrupt("%v", err)
	}
	return w, nil
}

// readEnvelope reads and parses the keystore file at path, bounded in
// size.
func readEnvelope(path string) (*envelope, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening keystore: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeystoreBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading keystore %s: %w", path, err)
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrCorrupt, path, fmt.Sprintf(format, args...))
	}
	if len(data) > maxKeystoreBytes {
		return nil, corrupt("larger than %d bytes", maxKeystoreBytes)
	}
	if len(data) == 0 {
		return nil, corrupt("empty file")
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, corrupt("not a keystore JSON envelope: %v", err)
	}
	if env.Version != keystoreVersion {
		return nil, corrupt("keystore version %d, this program reads version %d", env.Version, keystoreVersion)
	}
	return &env, nil
}

// Public is what a keystore shows without its passphrase.
type Public struct {
	Network   Network
	Addresses []Address // PKH, Address, Index, Change, Imported, Label
}

// OpenPublic reads the clear part of the keystore at path: its network
// and addresses, for balances and history without the passphrase. It
// returns ErrNoPublicData for a keystore written before it existed, and
// ErrCorrupt for an address list that does not decode.
func OpenPublic(path string) (*Public, error) {
	env, err := readEnvelope(path)
	if err != nil {
		return nil, err
	}
	if env.Public == nil {
		return nil, fmt.Errorf("%w (%s)", ErrNoPublicData, path)
	}
	pub := &Public{Network: Network{Name: env.Public.Network, AddressPrefix: env.Public.AddressPrefix}}
	if err := pub.Network.validate(); err != nil {
		return nil, fmt.Errorf("%w: %s: public part: %v", ErrCorrupt, path, err)
	}
	if len(env.Public.Addresses) > MaxAddresses {
		return nil, fmt.Errorf("%w: %s: public part: %d addresses, at most %d", ErrCorrupt, path, len(env.Public.Addresses), MaxAddresses)
	}
	for i, a := range env.Public.Addresses {
		pkh, err := wire.DecodeAddress(pub.Network.AddressPrefix, a.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: public address %d: %v", ErrCorrupt, path, i, err)
		}
		entry := Address{Address: a.Address, PKH: pkh, Imported: a.Imported, Label: a.Label, Change: a.Change}
		if a.Index != nil {
			entry.Index = *a.Index
		}
		pub.Addresses = append(pub.Addresses, entry)
	}
	return pub, nil
}

// load fills w from a decrypted plaintext, re-deriving every key and
// checking the address list against them.
func (w *Wallet) load(pt []byte) error {
	var p plaintext
	if err := json.Unmarshal(pt, &p); err != nil {
		return fmt.Errorf("decrypted content is not valid: %v", err)
	}
	w.net = Network{Name: p.Network, AddressPrefix: p.AddressPrefix}
	if err := w.net.validate(); err != nil {
		return err
	}
	switch {
	case p.Seed != "" && p.Scheme == "bip32":
		seed, err := hex.DecodeString(p.Seed)
		if err != nil || len(seed) != HDSeedSize {
			return fmt.Errorf("BIP 32 seed is not %d bytes of hex", HDSeedSize)
		}
		c, err := newHDChains(seed)
		if err != nil {
			return err
		}
		w.seed, w.hd = seed, &c
	case p.Seed != "" && p.Scheme == "":
		seed, err := hex.DecodeString(p.Seed)
		if err != nil || len(seed) != SeedSize {
			return fmt.Errorf("seed is not %d bytes of hex", SeedSize)
		}
		w.seed = seed
	case p.Seed != "":
		return fmt.Errorf("unknown key scheme %q", p.Scheme)
	case p.NextIndex != 0 || p.NextChange != 0:
		return fmt.Errorf("next_index %d without a seed", p.NextIndex)
	}
	if p.NextChange != 0 && w.hd == nil {
		return errors.New("next_change in a keystore without a BIP 32 seed")
	}
	w.nextChg = p.NextChange
	if len(p.Addresses) > MaxAddresses {
		return fmt.Errorf("%d addresses, at most %d", len(p.Addresses), MaxAddresses)
	}
	w.next = p.NextIndex
	imported := 0
	for i, a := range p.Addresses {
		var key *secp256k1.PrivateKey
		var entry Address
		switch {
		case a.Imported && a.Index == nil:
			if imported >= len(p.ImportedKeys) {
				return fmt.Errorf("address %d: more imported addresses than imported keys", i)
			}
			k, err := parsePrivateKey(p.ImportedKeys[imported])
			if err != nil {
				return fmt.Errorf("imported key %d: %v", imported, err)
			}
			imported++
			key, entry = k, Address{Imported: true}
			w.imported = append(w.imported, k)
		case !a.Imported && a.Index != nil:
			next := p.NextIndex
			if a.Change {
				next = p.NextChange
			}
			if *a.Index >= next {
				return fmt.Errorf("address %d: index %d not below the chain's next index %d", i, *a.Index, next)
			}
			if a.Change && w.hd == nil {
				return fmt.Errorf("address %d: a change address without a BIP 32 seed", i)
			}
			k, err := w.derive(a.Change, *a.Index)
			if err != nil {
				return err
			}
			key, entry = k, Address{Index: *a.Index, Change: a.Change}
		default:
			return fmt.Errorf("address %d: needs either an index or imported", i)
		}
		entry.PKH = KeyPKH(key)
		addr, err := wire.EncodeAddress(w.net.AddressPrefix, entry.PKH)
		if err != nil {
			return err
		}
		if addr != a.Address {
			return fmt.Errorf("address %d is %s but its key gives %s", i, a.Address, addr)
		}
		if _, dup := w.byPKH[entry.PKH]; dup {
			return fmt.Errorf("address %s listed twice", addr)
		}
		entry.Address, entry.Label = addr, a.Label
		w.byPKH[entry.PKH] = len(w.addrs)
		w.addrs = append(w.addrs, entry)
		w.keys[entry.PKH] = key
	}
	if imported != len(p.ImportedKeys) {
		return fmt.Errorf("%d imported keys but %d imported addresses", len(p.ImportedKeys), imported)
	}
	return nil
}

func parsePrivateKey(s string) (*secp256k1.PrivateKey, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("not 32 bytes of hex")
	}
	defer clear(b)
	var k secp256k1.ModNScalar
	if k.SetByteSlice(b) || k.IsZero() {
		return nil, errors.New("not a valid secp256k1 private key")
	}
	return secp256k1.NewPrivateKey(&k), nil
}

// Save writes the wallet to its file atomically, mode 0600, encrypted under
// the passphrase it was created or opened with (with a fresh nonce).
func (w *Wallet) Save() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(false)
}

// write encrypts the wallet and replaces its file (or, with create, makes
// it, failing if it exists). The caller holds w.mu or owns w.
func (w *Wallet) write(create bool) error {
	p := plaintext{
		Network:       w.net.Name,
		AddressPrefix: w.net.AddressPrefix,
		NextIndex:     w.next,
		Addresses:     make([]addressJSON, 0, len(w.addrs)),
	}
	if w.seed != nil {
		p.Seed = hex.EncodeToString(w.seed)
	}
	if w.hd != nil {
		p.Scheme, p.NextChange = "bip32", w.nextChg
	}
	for _, k := range w.imported {
		p.ImportedKeys = append(p.ImportedKeys, hex.EncodeToString(k.Serialize()))
	}
	for _, a := range w.addrs {
		j := addressJSON{Address: a.Address, Imported: a.Imported, Label: a.Label, Change: a.Change}
		if !a.Imported {
			idx := a.Index
			j.Index = &idx
		}
		p.Addresses = append(p.Addresses, j)
	}
	pt, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	defer clear(pt)
	aead, err := chacha20poly1305.NewX(w.key)
	if err != nil {
		return err
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(w.rand, nonce); err != nil {
		return fmt.Errorf("reading random nonce: %w", err)
	}
	env := envelope{
		Version: keystoreVersion,
		KDF:     w.kdf.KDF,
		KDFParams: kdfParams{
			Time: w.kdf.Time, MemoryKiB: w.kdf.MemoryKiB, Threads: w.kdf.Threads,
			N: w.kdf.N, R: w.kdf.R, P: w.kdf.P,
		},
		Salt:       hex.EncodeToString(w.salt),
		Nonce:      hex.EncodeToString(nonce),
		Ciphertext: hex.EncodeToString(aead.Seal(nil, nonce, pt, aad())),
		Public:     &publicJSON{Network: p.Network, AddressPrefix: p.AddressPrefix, Addresses: p.Addresses},
	}
	data, err := json.MarshalIndent(&env, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	if create {
		err = atomicfile.Create(w.path, data, 0o600)
	} else {
		err = atomicfile.Write(w.path, data, 0o600)
	}
	if errors.Is(err, atomicfile.ErrExists) {
		return fmt.Errorf("%w: %s (refusing to overwrite it)", ErrExists, w.path)
	}
	if err != nil {
		return fmt.Errorf("writing keystore: %w", err)
	}
	return nil
}

// File-system steps that tests replace to simulate failures.
// addKey records a key and its address. The caller holds w.mu or owns w.
func (w *Wallet) addKey(key *secp256k1.PrivateKey, entry Address) (Address, error) {
	entry.PKH = KeyPKH(key)
	addr, err := wire.EncodeAddress(w.net.AddressPrefix, entry.PKH)
	if err != nil {
		return Address{}, err
	}
	entry.Address = addr
	w.byPKH[entry.PKH] = len(w.addrs)
	w.addrs = append(w.addrs, entry)
	w.keys[entry.PKH] = key
	return entry, nil
}

// derive returns the key at index of a chain: BIP 32's receive or change
// chain, or the legacy seed's one chain (change false).
func (w *Wallet) derive(change bool, index uint32) (*secp256k1.PrivateKey, error) {
	if w.hd != nil {
		return w.hd.key(change, index)
	}
	return DeriveKey(w.seed, index)
}

// NewAddress derives the key at the next index of the receive chain and
// returns its address (ErrNoSeed for a keystore of imported keys only).
// Call Save to keep it.
func (w *Wallet) NewAddress() (Address, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nextAddress(false)
}

// NewChangeAddress derives the next address of the change chain (BIP 32
// keystores; a legacy seed has one chain, so it is NewAddress there).
// Call Save to keep it.
func (w *Wallet) NewChangeAddress() (Address, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nextAddress(w.hd != nil)
}

// nextAddress derives the next address of a chain. The caller holds w.mu.
func (w *Wallet) nextAddress(change bool) (Address, error) {
	if w.seed == nil {
		return Address{}, ErrNoSeed
	}
	next := &w.next
	if change {
		next = &w.nextChg
	}
	if len(w.addrs) >= MaxAddresses || *next >= 1<<31 {
		return Address{}, fmt.Errorf("keystore holds the maximum of %d addresses", len(w.addrs))
	}
	key, err := w.derive(change, *next)
	if err != nil {
		return Address{}, err
	}
	if i, dup := w.byPKH[KeyPKH(key)]; dup {
		// Only if this exact key was imported before; skip the index.
		*next++
		return w.addrs[i], nil
	}
	a, err := w.addKey(key, Address{Index: *next, Change: change})
	if err != nil {
		return Address{}, err
	}
	*next++
	return a, nil
}

// DeriveAddress returns the address at index of a chain without adding it
// to the wallet (for a restore's scan). Change needs a BIP 32 keystore.
func (w *Wallet) DeriveAddress(change bool, index uint32) (Address, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seed == nil {
		return Address{}, ErrNoSeed
	}
	if change && w.hd == nil {
		return Address{}, errors.New("a legacy seed has no change chain")
	}
	key, err := w.derive(change, index)
	if err != nil {
		return Address{}, err
	}
	pkh := KeyPKH(key)
	addr, err := wire.EncodeAddress(w.net.AddressPrefix, pkh)
	return Address{Address: addr, PKH: pkh, Index: index, Change: change}, err
}

// AddressesUpTo adds every address of a chain up to and including index
// that the wallet does not have yet (a restore found index used). Call
// Save to keep them.
func (w *Wallet) AddressesUpTo(change bool, index uint32) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	next := w.next
	if change {
		next = w.nextChg
	}
	for i := next; i <= index; i++ {
		if _, err := w.nextAddress(change); err != nil {
			return err
		}
	}
	return nil
}

// ImportKey adds a raw private key and returns its address. Importing a key
// the wallet already holds returns its existing address. Call Save to keep
// it.
func (w *Wallet) ImportKey(key *secp256k1.PrivateKey) (Address, error) {
	if key == nil || key.Key.IsZero() {
		return Address{}, errors.New("cannot import a zero private key")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if i, dup := w.byPKH[KeyPKH(key)]; dup {
		return w.addrs[i], nil
	}
	if len(w.addrs) >= MaxAddresses {
		return Address{}, fmt.Errorf("keystore holds the maximum of %d addresses", len(w.addrs))
	}
	k := secp256k1.NewPrivateKey(&key.Key)
	a, err := w.addKey(k, Address{Imported: true})
	if err != nil {
		return Address{}, err
	}
	w.imported = append(w.imported, k)
	return a, nil
}

// SetLabel sets the label of the wallet's address with key hash pkh. Call
// Save to keep it.
func (w *Wallet) SetLabel(pkh [20]byte, label string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	i, ok := w.byPKH[pkh]
	if !ok {
		return ErrUnknownAddress
	}
	w.addrs[i].Label = label
	return nil
}

// Addresses returns the wallet's addresses in the order they were made.
func (w *Wallet) Addresses() []Address {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Address(nil), w.addrs...)
}

// KeyFor returns a copy of the private key whose public key hashes to pkh,
// if the wallet holds it.
func (w *Wallet) KeyFor(pkh [20]byte) (*secp256k1.PrivateKey, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k, ok := w.keys[pkh]
	if !ok {
		return nil, false
	}
	return secp256k1.NewPrivateKey(&k.Key), true
}

// Network returns the network the keystore belongs to.
func (w *Wallet) Network() Network {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.net
}

// Seed returns a copy of the wallet's seed, or false for a keystore of
// imported keys only.
func (w *Wallet) Seed() ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seed == nil {
		return nil, false
	}
	return append([]byte(nil), w.seed...), true
}

// Path returns the keystore's file path.
func (w *Wallet) Path() string { return w.path }
