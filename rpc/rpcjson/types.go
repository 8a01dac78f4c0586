package rpcjson

import (
	"encoding/hex"
	"fmt"

	"tally/wire"
)

// Result shapes, shared by the server and the client. Hashes are lowercase
// hex in byte order; amounts are integers in base units; fee rates are base
// units per byte of encoding.

// BlockchainInfo is the result of getblockchaininfo.
type BlockchainInfo struct {
	Chain                string    `json:"chain"` // network name
	Blocks               uint64    `json:"blocks"`
	Headers              uint64    `json:"headers"`
	BestBlockHash        wire.Hash `json:"bestblockhash"`
	Bits                 string    `json:"bits"`
	Target               string    `json:"target"`
	Difficulty           float64   `json:"difficulty"`
	Time                 uint64    `json:"time"`
	MedianTime           uint64    `json:"mediantime"`
	VerificationProgress float64   `json:"verificationprogress"`
	InitialBlockDownload bool      `json:"initialblockdownload"`
	ChainWork            string    `json:"chainwork"`
	Pruned               bool      `json:"pruned"`
	PruneHeight          *uint64   `json:"pruneheight,omitempty"` // lowest height with a body, when pruned
	TxIndex              bool      `json:"txindex"`
	AddrIndex            bool      `json:"addrindex"`
	// AssumeValid is the --assumevalid block ("" when every signature is
	// checked); AssumeValidInForce says that blocks being connected now
	// skip their signature checks (a header chain to it is known and the
	// tip is below it).
	AssumeValid        string `json:"assumevalid"`
	AssumeValidInForce bool   `json:"assumevalid_in_force"`
	Warnings           string `json:"warnings"`
}

// BlockHeaderResult is the result of getblockheader with verbose true.
type BlockHeaderResult struct {
	Hash              wire.Hash  `json:"hash"`
	Confirmations     int64      `json:"confirmations"` // -1 off the best chain
	Height            uint64     `json:"height"`
	Version           uint32     `json:"version"`
	MerkleRoot        wire.Hash  `json:"merkleroot"`
	Time              uint64     `json:"time"`
	MedianTime        uint64     `json:"mediantime"`
	Nonce             uint64     `json:"nonce"`
	Bits              string     `json:"bits"`
	Target            string     `json:"target"`
	Difficulty        float64    `json:"difficulty"`
	ChainWork         string     `json:"chainwork"`
	NTx               int        `json:"nTx"`
	PreviousBlockHash *wire.Hash `json:"previousblockhash,omitempty"`
	NextBlockHash     *wire.Hash `json:"nextblockhash,omitempty"`
}

// BlockResult is the result of getblock with verbosity 1 (Tx holds txids)
// or 2 (Tx holds TxResult objects).
type BlockResult struct {
	Hash              wire.Hash  `json:"hash"`
	Confirmations     int64      `json:"confirmations"`
	Size              int        `json:"size"`
	Height            uint64     `json:"height"`
	Version           uint32     `json:"version"`
	MerkleRoot        wire.Hash  `json:"merkleroot"`
	Tx                any        `json:"tx"`
	Time              uint64     `json:"time"`
	MedianTime        uint64     `json:"mediantime"`
	Nonce             uint64     `json:"nonce"`
	Bits              string     `json:"bits"`
	Target            string     `json:"target"`
	Difficulty        float64    `json:"difficulty"`
	ChainWork         string     `json:"chainwork"`
	NTx               int        `json:"nTx"`
	PreviousBlockHash *wire.Hash `json:"previousblockhash,omitempty"`
	NextBlockHash     *wire.Hash `json:"nextblockhash,omitempty"`
}

// ChainTip is one entry of getchaintips.
type ChainTip struct {
	Height    uint64    `json:"height"`
	Hash      wire.Hash `json:"hash"`
	BranchLen uint64    `json:"branchlen"`
	Status    string    `json:"status"` // active, valid-fork, valid-headers, invalid
}

// TxOutResult is the result of gettxout.
type TxOutResult struct {
	BestBlock     wire.Hash `json:"bestblock"`
	Confirmations uint64    `json:"confirmations"` // 0 for a mempool output
	Value         uint64    `json:"value"`
	Address       string    `json:"address"`
	PKH           string    `json:"pkh"`
	Coinbase      bool      `json:"coinbase"`
}

// TxOutSetInfo is the result of gettxoutsetinfo (SPEC section 7).
type TxOutSetInfo struct {
	Height      uint64    `json:"height"`
	BestBlock   wire.Hash `json:"bestblock"`
	TxOuts      uint64    `json:"txouts"`
	TotalAmount uint64    `json:"total_amount"`
	UTXOHash    wire.Hash `json:"utxo_hash"`
}

// MerkleProofResult is the result of getmerkleproof: everything a light
// client needs to check that a transaction is in a block and where the
// block stands.
type MerkleProofResult struct {
	BlockHeight   uint64      `json:"block_height"`
	BlockHash     wire.Hash   `json:"blockhash"`
	Confirmations int64       `json:"confirmations"` // -1 off the best chain
	Pos           uint32      `json:"pos"`
	LeafCount     uint32      `json:"leaf_count"`
	Merkle        []wire.Hash `json:"merkle"` // sibling hashes from the leaf up
	Header        string      `json:"header"` // 88-byte header, hex
	ChainWork     string      `json:"chainwork"`
}

// TxProof converts the result into a wire.TxProof for txid, checking
// that the header decodes and hashes to BlockHash. It does not verify the
// proof (call Verify on the result).
func (r *MerkleProofResult) TxProof(txid wire.Hash) (*wire.TxProof, error) {
	raw, err := hex.DecodeString(r.Header)
	if err != nil {
		return nil, fmt.Errorf("merkle proof header: %w", err)
	}
	h, err := wire.DecodeHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("merkle proof header: %w", err)
	}
	if h.BlockID() != r.BlockHash {
		return nil, fmt.Errorf("merkle proof header hashes to %s, not blockhash %s", h.BlockID(), r.BlockHash)
	}
	return &wire.TxProof{Header: h, TxID: txid, Proof: wire.MerkleProof{Index: r.Pos, LeafCount: r.LeafCount, Path: r.Merkle}}, nil
}

// TxResult is a decoded transaction (getrawtransaction verbose,
// decoderawtransaction, getblock verbosity 2). The block fields are set
// only for a confirmed transaction.
type TxResult struct {
	TxID     wire.Hash    `json:"txid"`
	Hash     wire.Hash    `json:"hash"` // equal to txid (no witness data)
	Size     int          `json:"size"`
	Version  uint32       `json:"version"`
	LockTime uint64       `json:"locktime"`
	Coinbase bool         `json:"coinbase,omitempty"`
	Vin      []TxInResult `json:"vin"`
	Vout     []TxOutEntry `json:"vout"`
	// Extra is the extra field as hex: the memo of a transaction, or the
	// height (u64) and free data of a coinbase.
	Extra string `json:"extra"`
	// Fee is the fee in base units (getrawtransaction verbosity 2,
	// getblock verbosity 3); absent for a coinbase.
	Fee           *uint64    `json:"fee,omitempty"`
	Hex           string     `json:"hex"`
	BlockHash     *wire.Hash `json:"blockhash,omitempty"`
	Confirmations *int64     `json:"confirmations,omitempty"`
	InActiveChain *bool      `json:"in_active_chain,omitempty"`
	Time          uint64     `json:"time,omitempty"`
	BlockTime     uint64     `json:"blocktime,omitempty"`
}

// TxInResult is an input of a decoded transaction.
type TxInResult struct {
	TxID    wire.Hash `json:"txid"`
	Vout    uint32    `json:"vout"`
	PubKey  string    `json:"pubkey"`
	Sig     string    `json:"sig"`
	Address string    `json:"address"` // owner of the spent output (from the pubkey)
	// Prevout is the output spent (getrawtransaction verbosity 2,
	// getblock verbosity 3), as Core 25.
	Prevout *Prevout `json:"prevout,omitempty"`
}

// Prevout is the output an input spends.
type Prevout struct {
	Value   uint64 `json:"value"`
	Address string `json:"address"`
	// Height is the height of the block that created it; null while its
	// transaction is in the pool.
	Height    *uint64 `json:"height"`
	Generated bool    `json:"generated"` // created by a coinbase
}

// TxOutEntry is an output of a decoded transaction.
type TxOutEntry struct {
	Value   uint64 `json:"value"`
	N       uint32 `json:"n"`
	Address string `json:"address"`
	PKH     string `json:"pkh"`
}

// MempoolEntry is the result of getmempoolentry and a value of
// getrawmempool verbose.
type MempoolEntry struct {
	Size          int         `json:"size"`
	Fee           uint64      `json:"fee"`
	FeeRate       float64     `json:"feerate"`
	Time          int64       `json:"time"`
	Height        uint64      `json:"height"`
	AncestorCount int         `json:"ancestorcount"`
	AncestorSize  int         `json:"ancestorsize"`
	AncestorFees  uint64      `json:"ancestorfees"`
	Depends       []wire.Hash `json:"depends"`
	SpentBy       []wire.Hash `json:"spentby"`
}

// MempoolInfo is the result of getmempoolinfo.
type MempoolInfo struct {
	Loaded        bool   `json:"loaded"`
	Size          int    `json:"size"`
	Bytes         int    `json:"bytes"`
	Usage         int    `json:"usage"`
	MaxMempool    int    `json:"maxmempool"`
	MempoolMinFee uint64 `json:"mempoolminfee"`
	MinRelayTxFee uint64 `json:"minrelaytxfee"`
	Orphans       int    `json:"orphans"`
}

// FeeEstimate is the result of estimatesmartfee: a fee rate, or errors
// when there is not enough data.
type FeeEstimate struct {
	FeeRate *uint64  `json:"feerate,omitempty"`
	Errors  []string `json:"errors,omitempty"`
	Blocks  int      `json:"blocks"`
}

// TxStatus is the result of gettxstatus.
type TxStatus struct {
	TxID          wire.Hash  `json:"txid"`
	Status        string     `json:"status"`
	Reason        string     `json:"reason,omitempty"`
	Time          int64      `json:"time,omitempty"`
	Height        *uint64    `json:"height,omitempty"`
	BlockHash     *wire.Hash `json:"blockhash,omitempty"`
	Confirmations int64      `json:"confirmations,omitempty"`
	Fee           *uint64    `json:"fee,omitempty"`
	Size          int        `json:"size,omitempty"`
	// ReplacedBy names the replacement of a StatusReplaced transaction.
	ReplacedBy *wire.Hash `json:"replaced_by,omitempty"`
}

// AddressBalance is the result of getaddressbalance: the confirmed
// balance, and what pool transactions pay to the address and spend from
// it.
type AddressBalance struct {
	Balance             uint64 `json:"balance"`
	Received            uint64 `json:"received"`
	UTXOs               int    `json:"utxos"`
	UnconfirmedReceived uint64 `json:"unconfirmed_received"`
	UnconfirmedSpent    uint64 `json:"unconfirmed_spent"`
}

// AddressUTXO is an entry of getaddressutxos. Height is nil for an
// output of a pool transaction.
type AddressUTXO struct {
	Address       string     `json:"address"`
	TxID          wire.Hash  `json:"txid"`
	Vout          uint32     `json:"vout"`
	Value         uint64     `json:"value"`
	Height        *uint64    `json:"height"`
	Coinbase      bool       `json:"coinbase"`
	Confirmations uint64     `json:"confirmations"`
	SpentBy       *wire.Hash `json:"spent_by_mempool,omitempty"`
}

// AddressUTXOPage is the result of getaddressutxos: Next is the cursor of
// the next page ("after"), nil on the last one.
type AddressUTXOPage struct {
	UTXOs []AddressUTXO `json:"utxos"`
	Next  *string       `json:"next"`
}

// AddressTxID is an entry of getaddresstxids; Height is nil for a pool
// transaction.
type AddressTxID struct {
	TxID   wire.Hash `json:"txid"`
	Height *uint64   `json:"height"`
}

// AddressTxIDPage is the result of getaddresstxids.
type AddressTxIDPage struct {
	TxIDs []AddressTxID `json:"txids"`
	Next  *string       `json:"next"`
}

// AddressHistoryEntry is an entry of getaddresshistory: what the
// transaction paid to the address and spent from it.
type AddressHistoryEntry struct {
	TxID     wire.Hash `json:"txid"`
	Height   *uint64   `json:"height"`
	Received uint64    `json:"received"`
	Spent    uint64    `json:"spent"`
}

// AddressHistoryPage is the result of getaddresshistory.
type AddressHistoryPage struct {
	History []AddressHistoryEntry `json:"history"`
	Next    *string               `json:"next"`
}

// ValidateAddressResult is the result of validateaddress.
type ValidateAddressResult struct {
	IsValid bool   `json:"isvalid"`
	Address string `json:"address,omitempty"`
	PKH     string `json:"pkh,omitempty"`
	Error   string `json:"error,omitempty"`
}

// MiningInfo is the result of getmininginfo.
type MiningInfo struct {
	Blocks        uint64  `json:"blocks"`
	Bits          string  `json:"bits"`
	Difficulty    float64 `json:"difficulty"`
	Target        string  `json:"target"`
	NetworkHashPS float64 `json:"networkhashps"`
	PooledTx      int     `json:"pooledtx"`
	Chain         string  `json:"chain"`
	Warnings      string  `json:"warnings"`
}

// BlockTemplate is the result of getblocktemplate (Bitcoin Core's field
// names). The miner builds the coinbase: its extra must start with
// CoinbaseExtra (the height as u64), and its outputs may claim
// CoinbaseValue.
type BlockTemplate struct {
	Version           uint32       `json:"version"`
	PreviousBlockHash wire.Hash    `json:"previousblockhash"`
	Transactions      []TemplateTx `json:"transactions"`
	CoinbaseValue     uint64       `json:"coinbasevalue"`
	CoinbaseExtra     string       `json:"coinbaseextra"`
	Bits              string       `json:"bits"`
	Target            string       `json:"target"`
	Height            uint64       `json:"height"`
	CurTime           uint64       `json:"curtime"`
	MinTime           uint64       `json:"mintime"`
	SizeLimit         int          `json:"sizelimit"`
	Mutable           []string     `json:"mutable"`
	NonceRange        string       `json:"noncerange"`
}

// TemplateTx is a transaction of a block template. Depends lists the
// 1-based positions in Transactions of the transactions it spends from,
// as Bitcoin Core does.
type TemplateTx struct {
	Data    string    `json:"data"`
	TxID    wire.Hash `json:"txid"`
	Hash    wire.Hash `json:"hash"`
	Fee     uint64    `json:"fee"`
	Size    int       `json:"size"`
	Depends []int     `json:"depends"`
}

// NetworkInfo is the result of getnetworkinfo.
type NetworkInfo struct {
	Version         int      `json:"version"`
	SubVersion      string   `json:"subversion"`
	ProtocolVersion int      `json:"protocolversion"`
	Network         string   `json:"network"`
	NetworkID       string   `json:"network_id"`
	NetworkActive   bool     `json:"networkactive"`
	Connections     int      `json:"connections"`
	ConnectionsIn   int      `json:"connections_in"`
	ConnectionsOut  int      `json:"connections_out"`
	RelayFee        uint64   `json:"relayfee"`
	LocalAddresses  []string `json:"localaddresses"`
	Warnings        string   `json:"warnings"`
}
