package indexes

import (
	"testing"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"tally/wire"
)

// BenchmarkAddressPages measures one getaddressutxos page, one balance and
// one history page of an address with 100,000 history entries (50 blocks
// of 1,000 payments to it, each spending one of its coins).
func BenchmarkAddressPages(b *testing.B) {
	var p [20]byte
	p[0] = 0x77
	db, err := leveldb.Open(storage.NewMemStorage(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ix := NewAddrIndex()
	var prev wire.OutPoint
	for h := uint64(1); h <= 50; h++ {
		blk := &wire.Block{Txs: []*wire.Tx{{Version: 1, Extra: []byte{byte(h)}}}}
		var spent []wire.Coin
		for i := 0; i < 1000; i++ {
			blk.Txs = append(blk.Txs, &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: prev}}, Outputs: []wire.TxOut{{Amount: 1000, PKH: p}}})
			spent = append(spent, wire.Coin{Amount: 1000, PKH: p})
			if h == 1 && i == 0 {
				spent[0].PKH = [20]byte{} // the first coin came from elsewhere
			}
			prev = wire.OutPoint{TxID: blk.Txs[len(blk.Txs)-1].TxID()}
		}
		batch := new(leveldb.Batch)
		ix.ConnectBlock(batch, blk, blk.TxIDs(), h, spent)
		if err := db.Write(batch, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("utxos", func(b *testing.B) {
		for range b.N {
			u, _, err := ix.UTXOs(db, p, nil, 10000)
			if err != nil || len(u) != 1 {
				b.Fatal(len(u), err)
			}
		}
	})
	b.Run("balance", func(b *testing.B) {
		for range b.N {
			if _, err := ix.Balance(db, p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("history", func(b *testing.B) {
		for range b.N {
			if r, _, err := ix.TxIDs(db, p, 0, ^uint64(0), nil, 10000); err != nil || len(r) != 10000 {
				b.Fatal(len(r), err)
			}
		}
	})
}
