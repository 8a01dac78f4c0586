package wallet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/consensus"

	"tally/internal/atomicfile"
)

// cheapKDF keeps tests fast; real keystores use DefaultKDFParams.
var cheapKDF = KDFParams{KDF: KDFArgon2id, Time: 1, MemoryKiB: 8, Threads: 1}

var testNet = Network{Name: "tally-test", AddressPrefix: "tly"}

func devKey() *secp256k1.PrivateKey {
	h := sha256.Sum256([]byte("tally dev key"))
	return secp256k1.PrivKeyFromBytes(h[:])
}

func mustMode0600(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("%s has mode %o, want 600", path, m)
	}
}

// newTestWallet creates a keystore with a seed, three derived addresses and
// the dev key imported, saved.
func newTestWallet(t *testing.T, params KDFParams) (*Wallet, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wallet")
	w, err := Create(path, []byte("correct horse"), testSeed(), testNet, params)
	if err != nil {
		t.Fatal(err)
	}
	mustMode0600(t, path)
	for range 2 {
		if _, err := w.NewAddress(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.ImportKey(devKey()); err != nil {
		t.Fatal(err)
	}
	a, err := w.NewAddress()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetLabel(a.PKH, "savings"); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	mustMode0600(t, path)
	return w, path
}

func TestKeystoreRoundTrip(t *testing.T) {
	for _, params := range []KDFParams{cheapKDF, {KDF: KDFScrypt, N: 16, R: 1, P: 1}} {
		t.Run(params.KDF, func(t *testing.T) {
			w, path := newTestWallet(t, params)
			got, err := Open(path, []byte("correct horse"))
			if err != nil {
				t.Fatal(err)
			}
			want := w.Addresses()
			if len(want) != 4 {
				t.Fatalf("%d addresses, want 4", len(want))
			}
			if g := got.Addresses(); !equalAddresses(g, want) {
				t.Fatalf("addresses after Open:\n%+v\nwant\n%+v", g, want)
			}
			if want[0].Address != "tly1qmh2txcnp9hgx79dux3qhl8xzuh5gzf2jld5txh" || want[1].Index != 1 ||
				!want[2].Imported || want[3].Index != 2 || want[3].Label != "savings" {
				t.Errorf("unexpected addresses %+v", want)
			}
			for _, a := range want {
				k, ok := got.KeyFor(a.PKH)
				if !ok || KeyPKH(k) != a.PKH {
					t.Errorf("KeyFor(%s) missing or wrong", a.Address)
				}
			}
			if _, ok := got.KeyFor([20]byte{1}); ok {
				t.Error("KeyFor of a foreign pkh succeeded")
			}
			if s, ok := got.Seed(); !ok || !bytes.Equal(s, testSeed()) {
				t.Error("seed not restored")
			}
			if got.Network() != testNet {
				t.Errorf("network %+v", got.Network())
			}
			// The next derived address continues where the first left off.
			a, err := got.NewAddress()
			if err != nil || a.Index != 3 {
				t.Errorf("NewAddress after Open = %+v, %v", a, err)
			}
			// No secret appears in the file; the addresses and labels
			// do, readable without the passphrase.
			data, _ := os.ReadFile(path)
			secrets := []string{EncodeSeed(testSeed())[:64]}
			for _, a := range want {
				k, _ := got.KeyFor(a.PKH)
				secrets = append(secrets, hex.EncodeToString(k.Serialize()))
			}
			for _, secret := range secrets {
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("keystore file contains %q in clear", secret)
				}
			}
			pub, err := OpenPublic(path)
			if err != nil || pub.Network != testNet || !equalAddresses(pub.Addresses, want) {
				t.Errorf("OpenPublic = %+v, %v; want %+v", pub, err, want)
			}
		})
	}
}

func equalAddresses(a, b []Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeystoreImportedOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.wallet")
	w, err := Create(path, []byte("dev"), nil, Network{Name: "tally-dev", AddressPrefix: "tlyd"}, cheapKDF)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.NewAddress(); !errors.Is(err, ErrNoSeed) {
		t.Errorf("NewAddress without a seed: %v", err)
	}
	a, err := w.ImportKey(devKey())
	if err != nil {
		t.Fatal(err)
	}
	if a.PKH != consensus.DevPKH() {
		t.Error("imported dev key does not have consensus.DevPKH")
	}
	again, err := w.ImportKey(devKey())
	if err != nil || again != a || len(w.Addresses()) != 1 {
		t.Errorf("re-import: %+v, %v, %d addresses", again, err, len(w.Addresses()))
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	got, err := Open(path, []byte("dev"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.Seed(); ok {
		t.Error("seed appeared")
	}
	k, ok := got.KeyFor(a.PKH)
	if !ok || !k.Key.Equals(&devKey().Key) || !strings.HasPrefix(a.Address, "tlyd1") {
		t.Errorf("dev key not restored: %+v", a)
	}
	if _, err := w.ImportKey(&secp256k1.PrivateKey{}); err == nil {
		t.Error("imported a zero key")
	}
}

func TestKeystoreWrongPassphrase(t *testing.T) {
	_, path := newTestWallet(t, cheapKDF)
	for _, pass := range []string{"correct hors", "Correct horse", ""} {
		_, err := Open(path, []byte(pass))
		if !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("passphrase %q: %v, want ErrWrongPassphrase", pass, err)
		} else if !strings.Contains(err.Error(), "wrong passphrase or corrupted keystore") {
			t.Errorf("message %q", err)
		}
	}
}

func TestKeystoreTruncated(t *testing.T) {
	_, path := newTestWallet(t, cheapKDF)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut")
	// Every cut short of dropping only the final newline leaves incomplete
	// JSON; stepping keeps the test quick while covering every field.
	for n := 0; n < len(orig)-1; n += 1 + n/50 {
		if err := os.WriteFile(cut, orig[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(cut, []byte("correct horse"))
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", n, err)
		}
		if after, _ := os.ReadFile(cut); !bytes.Equal(after, orig[:n]) {
			t.Fatalf("Open changed the truncated file")
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, orig) {
		t.Error("keystore changed")
	}
}

// editEnvelope rewrites one field of the keystore's JSON envelope.
func editEnvelope(t *testing.T, path string, edit func(m map[string]any)) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, _ := json.Marshal(m)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

func flipHexDigit(s string, i int) string {
	b := []byte(s)
	if b[i] == '0' {
		b[i] = '1'
	} else {
		b[i] = '0'
	}
	return string(b)
}

func TestKeystoreTampered(t *testing.T) {
	_, path := newTestWallet(t, cheapKDF)
	orig, _ := os.ReadFile(path)
	pass := []byte("correct horse")
	cases := []struct {
		name string
		edit func(m map[string]any)
		want error
	}{
		{"ciphertext first byte", func(m map[string]any) { m["ciphertext"] = flipHexDigit(m["ciphertext"].(string), 0) }, ErrWrongPassphrase},
		{"ciphertext middle byte", func(m map[string]any) {
			s := m["ciphertext"].(string)
			m["ciphertext"] = flipHexDigit(s, len(s)/2)
		}, ErrWrongPassphrase},
		{"tag", func(m map[string]any) {
			s := m["ciphertext"].(string)
			m["ciphertext"] = flipHexDigit(s, len(s)-1)
		}, ErrWrongPassphrase},
		{"nonce", func(m map[string]any) { m["nonce"] = flipHexDigit(m["nonce"].(string), 3) }, ErrWrongPassphrase},
		{"salt", func(m map[string]any) { m["salt"] = flipHexDigit(m["salt"].(string), 3) }, ErrWrongPassphrase},
		{"kdf time", func(m map[string]any) { m["kdf_params"].(map[string]any)["time"] = 2 }, ErrWrongPassphrase},
		{"version", func(m map[string]any) { m["version"] = 2 }, ErrCorrupt},
		{"kdf name", func(m map[string]any) { m["kdf"] = "pbkdf2" }, ErrCorrupt},
		{"hostile kdf memory", func(m map[string]any) { m["kdf_params"].(map[string]any)["memory_kib"] = 1 << 31 }, ErrCorrupt},
		{"short nonce", func(m map[string]any) { m["nonce"] = "00" }, ErrCorrupt},
		{"ciphertext not hex", func(m map[string]any) { m["ciphertext"] = "zz" }, ErrCorrupt},
		{"not an object", func(m map[string]any) { clear(m) }, ErrCorrupt},
	}
	for _, c := range cases {
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
		editEnvelope(t, path, c.edit)
		if _, err := Open(path, pass); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// A plaintext that decrypts but whose address list disagrees with its keys
// is refused.
func TestKeystoreInconsistentPlaintext(t *testing.T) {
	w, path := newTestWallet(t, cheapKDF)
	w.addrs[1].Address = w.addrs[0].Address
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, []byte("correct horse")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("inconsistent plaintext: %v, want ErrCorrupt", err)
	}
}

func TestKeystoreCreateRefusesOverwrite(t *testing.T) {
	_, path := newTestWallet(t, cheapKDF)
	orig, _ := os.ReadFile(path)
	_, err := Create(path, []byte("other"), nil, testNet, cheapKDF)
	if !errors.Is(err, ErrExists) {
		t.Errorf("Create over an existing keystore: %v, want ErrExists", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, orig) {
		t.Error("existing keystore changed")
	}
	// Also when the path appears between the check and the link.
	other := filepath.Join(t.TempDir(), "w")
	defer func(f func(string, string) error) { atomicfile.Link = f }(atomicfile.Link)
	atomicfile.Link = func(oldname, newname string) error {
		if err := os.WriteFile(newname, []byte("theirs"), 0o600); err != nil {
			return err
		}
		return os.Link(oldname, newname)
	}
	if _, err := Create(other, []byte("p"), nil, testNet, cheapKDF); !errors.Is(err, ErrExists) {
		t.Errorf("racing Create: %v, want ErrExists", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "theirs" {
		t.Error("racing Create replaced the other file")
	}
	assertNoTempFiles(t, filepath.Dir(other))
}

func TestKeystoreCreateChecks(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name   string
		pass   []byte
		seed   []byte
		net    Network
		params KDFParams
	}{
		{"empty passphrase", nil, nil, testNet, cheapKDF},
		{"short seed", []byte("p"), make([]byte, 16), testNet, cheapKDF},
		{"no network", []byte("p"), nil, Network{AddressPrefix: "tly"}, cheapKDF},
		{"bad prefix", []byte("p"), nil, Network{Name: "x", AddressPrefix: "TLY "}, cheapKDF},
		{"unknown kdf", []byte("p"), nil, testNet, KDFParams{KDF: "md5"}},
		{"argon2 time 0", []byte("p"), nil, testNet, KDFParams{KDF: KDFArgon2id, MemoryKiB: 8, Threads: 1}},
		{"scrypt n not power of 2", []byte("p"), nil, testNet, KDFParams{KDF: KDFScrypt, N: 15, R: 1, P: 1}},
	}
	for _, c := range cases {
		path := filepath.Join(dir, c.name)
		if _, err := Create(path, c.pass, c.seed, c.net, c.params); err == nil {
			t.Errorf("%s: Create succeeded", c.name)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: a file was left behind", c.name)
		}
	}
	assertNoTempFiles(t, dir)
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

// A save that dies before its rename (here: the rename fails) leaves the old
// keystore in place and openable, and no temporary file.
func TestKeystoreSaveInterrupted(t *testing.T) {
	w, path := newTestWallet(t, cheapKDF)
	orig, _ := os.ReadFile(path)
	if _, err := w.NewAddress(); err != nil {
		t.Fatal(err)
	}
	defer func(f func(string, string) error) { atomicfile.Rename = f }(atomicfile.Rename)
	atomicfile.Rename = func(string, string) error { return errors.New("simulated crash before rename") }
	if err := w.Save(); err == nil {
		t.Fatal("Save succeeded with a failing rename")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, orig) {
		t.Fatal("keystore changed by a failed save")
	}
	assertNoTempFiles(t, filepath.Dir(path))
	got, err := Open(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Addresses()); n != 4 {
		t.Errorf("%d addresses in the old keystore, want 4", n)
	}

	// A process killed mid-write leaves a partial temporary file: the
	// keystore still opens, and the next save succeeds.
	atomicfile.Rename = os.Rename
	partial := filepath.Join(filepath.Dir(path), ".wallet.tmp-12345")
	if err := os.WriteFile(partial, orig[:len(orig)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, []byte("correct horse")); err != nil {
		t.Fatalf("Open with a leftover temporary file: %v", err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	got, err = Open(path, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got.Addresses()); n != 5 {
		t.Errorf("%d addresses after the retried save, want 5", n)
	}
	mustMode0600(t, path)
}

// Save restores mode 0600 even if someone loosened it.
func TestKeystoreSaveMode(t *testing.T) {
	w, path := newTestWallet(t, cheapKDF)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Save(); err != nil {
		t.Fatal(err)
	}
	mustMode0600(t, path)
}

func TestDefaultKDFParamsValid(t *testing.T) {
	for _, p := range []KDFParams{DefaultKDFParams(), DefaultScryptParams(), cheapKDF} {
		if err := p.validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	if d := DefaultKDFParams(); d.Time != 3 || d.MemoryKiB != 64<<10 || d.Threads != 2 {
		t.Errorf("default argon2id params %+v", d)
	}
}
