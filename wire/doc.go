// Package wire holds Tally's data types: block headers, blocks and
// transactions, their one canonical binary encoding (SPEC section 2), hashing,
// the signature message, bech32m addresses, and RFC 6962 Merkle trees and
// proofs.
//
// It depends on nothing else in Tally. Consensus rules live in package
// consensus; the block index, chain state and storage live in
// chain.
package wire
