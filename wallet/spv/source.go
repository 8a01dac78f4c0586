package spv

import (
	"context"
	"encoding/hex"
	"fmt"

	"tally/wire"
)

// MaxHeadersPerRequest is the most headers getheaders returns in one call
// (SPEC section 7).
const MaxHeadersPerRequest = 2000

// HeaderSource is a node the light client asks for headers and proofs.
// Nothing it returns is trusted.
type HeaderSource interface {
	// GetHeaders returns up to count headers of the source's best chain
	// starting at height start; fewer (or none) past its tip.
	GetHeaders(ctx context.Context, start uint64, count int) ([]wire.Header, error)
	// GetMerkleProof returns the source's proof that txid is in a block.
	GetMerkleProof(ctx context.Context, txid wire.Hash) (*Proof, error)
}

// Proof is a Merkle proof as a source serves it (getmerkleproof): the
// block it claims, with the header, and the audit path of the txid.
type Proof struct {
	Height    uint64
	BlockID   wire.Hash // as the source claims it; checked against Header
	Header    wire.Header
	Merkle    wire.MerkleProof
	ChainWork string // the source's claim, for display only
}

// Caller makes one JSON-RPC call: method with positional params, the
// result decoded into result. The rpc package's client is one.
type Caller interface {
	Call(ctx context.Context, method string, params []any, result any) error
}

// RPCSource is a HeaderSource over a node's JSON-RPC interface
// (getheaders, getmerkleproof).
type RPCSource struct {
	Name   string // shown in errors, e.g. the node's URL
	Client Caller
}

// String returns the source's name.
func (s *RPCSource) String() string { return s.Name }

// GetHeaders calls getheaders start count and decodes the hex headers.
func (s *RPCSource) GetHeaders(ctx context.Context, start uint64, count int) ([]wire.Header, error) {
	var hexes []string
	if err := s.Client.Call(ctx, "getheaders", []any{start, count}, &hexes); err != nil {
		return nil, err
	}
	if len(hexes) > count {
		return nil, newErr(ErrBadResponse, "getheaders %d %d returned %d headers", start, count, len(hexes))
	}
	out := make([]wire.Header, len(hexes))
	for i, x := range hexes {
		h, err := decodeHeaderHex(x)
		if err != nil {
			return nil, newErr(ErrBadResponse, "getheaders: header %d: %v", start+uint64(i), err)
		}
		out[i] = h
	}
	return out, nil
}

// proofJSON is the getmerkleproof result (SPEC section 7).
type proofJSON struct {
	BlockHeight uint64   `json:"block_height"`
	BlockHash   string   `json:"blockhash"`
	Pos         uint32   `json:"pos"`
	LeafCount   uint32   `json:"leaf_count"`
	Merkle      []string `json:"merkle"`
	Header      string   `json:"header"`
	ChainWork   string   `json:"chainwork"`
}

// GetMerkleProof calls getmerkleproof txid and decodes the result.
func (s *RPCSource) GetMerkleProof(ctx context.Context, txid wire.Hash) (*Proof, error) {
	var pj proofJSON
	if err := s.Client.Call(ctx, "getmerkleproof", []any{txid.String()}, &pj); err != nil {
		return nil, err
	}
	return pj.decode()
}

func (pj *proofJSON) decode() (*Proof, error) {
	p := &Proof{Height: pj.BlockHeight, ChainWork: pj.ChainWork,
		Merkle: wire.MerkleProof{Index: pj.Pos, LeafCount: pj.LeafCount}}
	var err error
	if p.Header, err = decodeHeaderHex(pj.Header); err != nil {
		return nil, newErr(ErrBadResponse, "getmerkleproof: header: %v", err)
	}
	if p.BlockID, err = wire.ParseHash(pj.BlockHash); err != nil {
		return nil, newErr(ErrBadResponse, "getmerkleproof: blockhash: %v", err)
	}
	if len(pj.Merkle) > wire.MaxMerklePath {
		return nil, newErr(ErrBadResponse, "getmerkleproof: %d sibling hashes, at most %d", len(pj.Merkle), wire.MaxMerklePath)
	}
	for i, x := range pj.Merkle {
		h, err := wire.ParseHash(x)
		if err != nil {
			return nil, newErr(ErrBadResponse, "getmerkleproof: merkle[%d]: %v", i, err)
		}
		p.Merkle.Path = append(p.Merkle.Path, h)
	}
	return p, nil
}

func decodeHeaderHex(x string) (wire.Header, error) {
	if len(x) != 2*wire.HeaderSize {
		return wire.Header{}, fmt.Errorf("want %d hex digits, got %d characters", 2*wire.HeaderSize, len(x))
	}
	b, err := hex.DecodeString(x)
	if err != nil {
		return wire.Header{}, err
	}
	return wire.DecodeHeader(b)
}

// sourceName names a source in errors and results.
func sourceName(src HeaderSource, i int) string {
	if s, ok := src.(fmt.Stringer); ok && s.String() != "" {
		return s.String()
	}
	return fmt.Sprintf("source %d", i+1)
}
