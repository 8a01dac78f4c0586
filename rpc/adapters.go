package rpc

import (
	"tally/chain/indexes"
	"tally/wire"
)

// TxIndexOn binds a transaction index to the database it lives in (the
// chain's DB()), as the TxIndex interface wants it. A nil index gives a
// nil TxIndex (no --txindex).
func TxIndexOn(ix *indexes.TxIndex, db indexes.Reader) TxIndex {
	if ix == nil {
		return nil
	}
	return txIndexView{ix, db}
}

type txIndexView struct {
	ix *indexes.TxIndex
	db indexes.Reader
}

func (v txIndexView) Lookup(txid wire.Hash) (wire.Hash, uint32, bool, error) {
	return v.ix.Lookup(v.db, txid)
}

func (v txIndexView) Ready() bool { return v.ix.Ready() }

// AddrIndexOn binds an address index to the database it lives in. A nil
// index gives a nil AddrIndex (no --addrindex).
func AddrIndexOn(ix *indexes.AddrIndex, db indexes.Reader) AddrIndex {
	if ix == nil {
		return nil
	}
	return addrIndexView{ix, db}
}

type addrIndexView struct {
	ix *indexes.AddrIndex
	db indexes.Reader
}

func (v addrIndexView) Balance(pkh [20]byte) (indexes.Balance, error) {
	return v.ix.Balance(v.db, pkh)
}

func (v addrIndexView) UTXOs(pkh [20]byte, after *wire.OutPoint, limit int) ([]indexes.UTXO, bool, error) {
	return v.ix.UTXOs(v.db, pkh, after, limit)
}

func (v addrIndexView) TxIDs(pkh [20]byte, from, to uint64, after *indexes.TxRef, limit int) ([]indexes.TxRef, bool, error) {
	return v.ix.TxIDs(v.db, pkh, from, to, after, limit)
}

func (v addrIndexView) Ready() bool { return v.ix.Ready() }
