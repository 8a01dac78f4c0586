// Package wallet holds what a Tally wallet keeps and computes on its own,
// without a node: keys, the encrypted keystore file, addresses, amounts,
// coin selection and signing.
//
// Keys (hd.go) come from BIP 39 recovery words (NewMnemonic, MnemonicSeed)
// through BIP 32 at m/44'/7611'/0'/c/i, c = 0 for receiving and 1 for
// change. Keystores made before that hold a 32-byte seed shown as 72 hex
// digits (EncodeSeed, DecodeSeed; DeriveKey in keys.go gives that scheme,
// one chain) and keep opening and spending. A keystore may also hold raw
// imported private keys and no seed at all (the dev network's dev.wallet
// is one imported key).
//
// The keystore keeps its network and address list in the clear as well
// (OpenPublic), so balances and history need no passphrase; keys, seeds
// and the authoritative address list are encrypted.
//
// The keystore (keystore.go) is a JSON envelope around an
// XChaCha20-Poly1305 ciphertext whose key comes from argon2id (default) or
// scrypt over the passphrase. A wrong passphrase and a tampered ciphertext
// both give ErrWrongPassphrase; an unreadable or truncated file gives
// ErrCorrupt. Every write goes to a temporary file in the same directory
// (mode 0600), is synced, renamed over the keystore, and the directory is
// synced, so a crash at any instant leaves the old or the new keystore,
// never a partial one. A *Wallet is safe for concurrent use by the
// goroutines of one process; two processes saving the same file race
// (the last rename wins).
//
// Coin selection and transaction building (txbuild.go) are pure functions
// over explicit inputs: the caller fetches unspent outputs from a node and
// submits the result. Signing follows SPEC section 2 and checks every
// signature with consensus.VerifySignature before returning.
//
// Amounts (amount.go) are parsed from and printed as decimal TALLY; all
// other code uses integer base units.
//
// Left to others: talking to a node (package rpc), the command line
// (cmd/wallet), and the light client that verifies payments (wallet/spv).
package wallet
