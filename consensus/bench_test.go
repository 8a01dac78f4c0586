package consensus

import (
	"encoding/binary"
	"testing"

	"tally/wire"
)

// BenchmarkCheckFullBlock measures the block rules a node runs on a full
// block besides signatures: CheckBlockSanity and CheckBlockConnect of
// 4,700 one-input, two-output payments spending the outputs of 100
// earlier transactions (a view over a map).
//
//	go test -run XXX -bench CheckFullBlock ./consensus/
func BenchmarkCheckFullBlock(b *testing.B) {
	p, err := Default(true)
	if err != nil {
		b.Fatal(err)
	}
	var pub [wire.PubKeySize]byte
	copy(pub[:], DevPrivateKey().PubKey().SerializeCompressed())
	pkh := DevPKH()
	const height = 1000
	view := coinMap{}
	blk := &wire.Block{Txs: []*wire.Tx{{Version: 1, Outputs: []wire.TxOut{{Amount: 1, PKH: pkh}},
		Extra: CoinbaseExtra(height, nil)}}}
	for i := range 4700 {
		var parent wire.Hash
		binary.LittleEndian.PutUint64(parent[:], uint64(i/47+1)*0x9e3779b97f4a7c15)
		op := wire.OutPoint{TxID: parent, Index: uint32(i % 47)}
		view[op] = wire.Coin{Amount: 10000, PKH: pkh, Height: 1}
		blk.Txs = append(blk.Txs, &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: op, PubKey: pub}},
			Outputs: []wire.TxOut{{Amount: 4000, PKH: pkh}, {Amount: 4000, PKH: pkh}}})
	}
	txids := blk.TxIDs()
	blk.Header.MerkleRoot = wire.MerkleRoot(txids)
	b.ResetTimer()
	for range b.N {
		if err := CheckBlockSanity(blk, txids, height, p); err != nil {
			b.Fatal(err)
		}
		if _, err := CheckBlockConnect(blk, txids, height, view, p); err != nil {
			b.Fatal(err)
		}
	}
}
