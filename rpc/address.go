package rpc

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"tally/chain/indexes"
	"tally/rpc/rpcjson"
	"tally/wire"
)

// MaxAddressResults is the default and largest page of getaddressutxos,
// getaddresstxids and getaddresshistory; the next page starts after the
// page's "next" cursor, so no address is too big to list.
const MaxAddressResults = 10_000

// pageParam documents the paging options of the address methods.
var pageParam = param{Name: "options", Type: "object", Optional: true, Default: `{"limit": 10000}`,
	Doc: `{"after": cursor from the previous page's "next", "limit": entries per page, at most 10000}`}

var addressMethods = []*method{
	{
		Name: "getaddressbalance", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "address", Doc: "a bech32m address of this network"}},
		Summary: "Returns an address's confirmed balance, everything it has received, and what pool transactions pay it and spend from it (--addrindex).",
		Result:  "{balance, received, utxos, unconfirmed_received, unconfirmed_spent}",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex", "-28 the address index is still being built"},
		Handler: getAddressBalance,
	},
	{
		Name: "getaddressutxos", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "address", Doc: "a bech32m address of this network"}, pageParam},
		Summary: "Returns a page of an address's unspent outputs, confirmed ones in (txid, vout) order, marking those a pool transaction spends; the last page (next null) adds the outputs of pool transactions paying it, with height null (--addrindex).",
		Result:  "{utxos: [{address, txid, vout, value, height, coinbase, confirmations, spent_by_mempool}], next}",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex, or a bad cursor or limit", "-28 the address index is still being built"},
		Handler: getAddressUTXOs,
	},
	{
		Name: "getaddresstxids", Family: "Addresses", Public: true,
		Params: []param{
			{Name: "address", Type: "address", Doc: "a bech32m address of this network"},
			{Name: "options_or_start", Type: "object", Optional: true, Default: `{"limit": 10000}`, Doc: `{"after": cursor, "limit": n} as getaddressutxos; or, as before, the lowest block height`},
			{Name: "end", Type: "number", Optional: true, Default: "the tip", Doc: "with a start height: the highest block height"},
		},
		Summary: "Returns a page of the transactions that paid or spent an address, by height; the last page (next null) adds pool transactions with height null (--addrindex).",
		Result:  "{txids: [{txid, height}], next}",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex, or a bad cursor or limit", "-28 the address index is still being built"},
		Handler: getAddressTxIDs,
	},
	{
		Name: "getaddresshistory", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "address", Doc: "a bech32m address of this network"}, pageParam},
		Summary: "As getaddresstxids, with the amounts each transaction paid to and spent from the address.",
		Result:  "{history: [{txid, height, received, spent}], next}",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex, or a bad cursor or limit", "-28 the address index is still being built"},
		Handler: getAddressHistory,
	},
	{
		Name: "validateaddress", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "string", Doc: "text to check"}},
		Summary: "Says whether a string is a valid address of this network (no index needed); an invalid one says what is wrong, never the checksum that would make it valid.",
		Result:  "{isvalid, address, pkh} or {isvalid: false, error}",
		Handler: validateAddress,
	},
}

func (c *call) addrIndex() (AddrIndex, error) {
	ix := c.s.deps.AddrIndex
	if ix == nil {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "%s requires --addrindex", c.m.Name)
	}
	if !ix.Ready() {
		return nil, rpcErr(rpcjson.CodeWarmingUp, "The address index is still being built")
	}
	return ix, nil
}

// addrQuery returns the address index and the pkh of the address in the
// first parameter, for the address methods.
func (c *call) addrQuery() (AddrIndex, [20]byte, error) {
	ix, err := c.addrIndex()
	if err != nil {
		return nil, [20]byte{}, err
	}
	pkh, _, err := c.address(0)
	return ix, pkh, err
}

// page is the paging options of an address query.
type page struct {
	after string // cursor, "" for the first page
	limit int
}

// pageOptions reads argument i as {"after": cursor, "limit": n}.
func (c *call) pageOptions(i int) (page, error) {
	pg := page{limit: MaxAddressResults}
	if !c.has(i) {
		return pg, nil
	}
	var o struct {
		After *string `json:"after"`
		Limit *int64  `json:"limit"`
	}
	dec := json.NewDecoder(bytes.NewReader(c.args[i]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return pg, rpcErr(rpcjson.CodeInvalidParameter, `%s must be {"after": cursor, "limit": n}: %v`, c.name(i), err)
	}
	if o.Limit != nil {
		if *o.Limit < 1 || *o.Limit > MaxAddressResults {
			return pg, rpcErr(rpcjson.CodeInvalidParameter, "limit %d: want 1 to %d", *o.Limit, MaxAddressResults)
		}
		pg.limit = int(*o.Limit)
	}
	if o.After != nil {
		pg.after = *o.After
	}
	return pg, nil
}

// utxoCursor parses "txid:vout".
func utxoCursor(s string) (*wire.OutPoint, error) {
	if s == "" {
		return nil, nil
	}
	id, n, ok := strings.Cut(s, ":")
	txid, err := wire.ParseHash(id)
	idx, err2 := strconv.ParseUint(n, 10, 32)
	if !ok || err != nil || err2 != nil {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "bad cursor %.80q: want txid:vout from a previous page's next", s)
	}
	return &wire.OutPoint{TxID: txid, Index: uint32(idx)}, nil
}

// historyCursor parses "height:txid".
func historyCursor(s string) (*indexes.TxRef, error) {
	if s == "" {
		return nil, nil
	}
	h, id, ok := strings.Cut(s, ":")
	height, err := strconv.ParseUint(h, 10, 64)
	txid, err2 := wire.ParseHash(id)
	if !ok || err != nil || err2 != nil {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "bad cursor %.80q: want height:txid from a previous page's next", s)
	}
	return &indexes.TxRef{Height: height, TxID: txid}, nil
}

// poolOutput is an output of a pool transaction paying an address.
type poolOutput struct {
	op     wire.OutPoint
	amount uint64
}

// poolActivity scans the pool for what concerns pkh: the outputs paying
// it, and per transaction the amounts it pays to and spends from pkh (an
// input spends pkh's coin when its public key hashes to pkh, a consensus
// rule). Transactions come in the pool's order.
func (s *Server) poolActivity(pkh [20]byte) (outs []poolOutput, txs []rpcjson.AddressHistoryEntry) {
	if s.deps.Mempool == nil {
		return nil, nil
	}
	for _, id := range s.deps.Mempool.TxIDs() {
		e, ok := s.deps.Mempool.Get(id)
		if !ok {
			continue
		}
		var h rpcjson.AddressHistoryEntry
		touched := false
		for j, o := range e.Tx.Outputs {
			if o.PKH == pkh {
				outs = append(outs, poolOutput{wire.OutPoint{TxID: id, Index: uint32(j)}, o.Amount})
				h.Received += o.Amount
				touched = true
			}
		}
		for _, in := range e.Tx.Inputs {
			if wire.Hash160(in.PubKey[:]) != pkh {
				continue
			}
			touched = true
			if p, ok := s.deps.Mempool.Get(in.Prev.TxID); ok && int(in.Prev.Index) < len(p.Tx.Outputs) {
				h.Spent += p.Tx.Outputs[in.Prev.Index].Amount
			} else if coin, ok, err := s.deps.Chain.Coin(in.Prev); err == nil && ok {
				h.Spent += coin.Amount
			}
		}
		if touched {
			h.TxID = id
			txs = append(txs, h)
		}
	}
	return outs, txs
}

func getAddressBalance(c *call) (any, error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, err
	}
	b, err := ix.Balance(pkh)
	if err != nil {
		return nil, err
	}
	r := rpcjson.AddressBalance{Balance: b.Balance, Received: b.Received, UTXOs: b.UTXOs}
	_, txs := c.s.poolActivity(pkh)
	for _, t := range txs {
		r.UnconfirmedReceived += t.Received
		r.UnconfirmedSpent += t.Spent
	}
	return r, nil
}

func getAddressUTXOs(c *call) (any, error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, err
	}
	pg, err := c.pageOptions(1)
	if err != nil {
		return nil, err
	}
	after, err := utxoCursor(pg.after)
	if err != nil {
		return nil, err
	}
	addr := c.s.address(pkh)
	utxos, more, err := ix.UTXOs(pkh, after, pg.limit)
	if err != nil {
		return nil, err
	}
	tip := c.s.deps.Chain.Tip().Height
	out := rpcjson.AddressUTXOPage{UTXOs: make([]rpcjson.AddressUTXO, 0, len(utxos))}
	for _, u := range utxos {
		height := u.Height
		e := rpcjson.AddressUTXO{Address: addr, TxID: u.OutPoint.TxID, Vout: u.OutPoint.Index, Value: u.Amount,
			Height: &height, Coinbase: u.Coinbase}
		if tip >= u.Height {
			e.Confirmations = tip - u.Height + 1
		}
		if sp, ok := c.s.deps.Mempool.Spender(u.OutPoint); ok {
			e.SpentBy = &sp
		}
		out.UTXOs = append(out.UTXOs, e)
	}
	if more {
		last := utxos[len(utxos)-1].OutPoint
		next := fmt.Sprintf("%s:%d", last.TxID, last.Index)
		out.Next = &next
		return out, nil
	}
	outs, _ := c.s.poolActivity(pkh)
	for _, o := range outs {
		e := rpcjson.AddressUTXO{Address: addr, TxID: o.op.TxID, Vout: o.op.Index, Value: o.amount}
		if sp, ok := c.s.deps.Mempool.Spender(o.op); ok {
			e.SpentBy = &sp
		}
		out.UTXOs = append(out.UTXOs, e)
	}
	return out, nil
}

// addressHistory returns a page of pkh's history for getaddresstxids and
// getaddresshistory: option argument 1 is the page options, or a start
// height followed by an end height (argument 2).
func (c *call) addressHistory() (entries []rpcjson.AddressHistoryEntry, next *string, err error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, nil, err
	}
	from, to := uint64(0), ^uint64(0)
	pg := page{limit: MaxAddressResults}
	if c.has(1) && isNumber(bytes.TrimSpace(c.args[1])) {
		if from, err = c.uint(1, 0, ^uint64(0)); err != nil {
			return nil, nil, err
		}
		if to, err = c.optUint(2, ^uint64(0), 0, ^uint64(0)); err != nil {
			return nil, nil, err
		}
	} else if pg, err = c.pageOptions(1); err != nil {
		return nil, nil, err
	}
	after, err := historyCursor(pg.after)
	if err != nil {
		return nil, nil, err
	}
	refs, more, err := ix.TxIDs(pkh, from, to, after, pg.limit)
	if err != nil {
		return nil, nil, err
	}
	entries = make([]rpcjson.AddressHistoryEntry, len(refs))
	for i, r := range refs {
		h := r.Height
		entries[i] = rpcjson.AddressHistoryEntry{TxID: r.TxID, Height: &h, Received: r.Received, Spent: r.Spent}
	}
	if more {
		last := refs[len(refs)-1]
		n := fmt.Sprintf("%d:%s", last.Height, last.TxID)
		return entries, &n, nil
	}
	if to == ^uint64(0) {
		_, txs := c.s.poolActivity(pkh)
		entries = append(entries, txs...)
	}
	return entries, nil, nil
}

func getAddressTxIDs(c *call) (any, error) {
	entries, next, err := c.addressHistory()
	if err != nil {
		return nil, err
	}
	out := rpcjson.AddressTxIDPage{TxIDs: make([]rpcjson.AddressTxID, len(entries)), Next: next}
	for i, e := range entries {
		out.TxIDs[i] = rpcjson.AddressTxID{TxID: e.TxID, Height: e.Height}
	}
	return out, nil
}

func getAddressHistory(c *call) (any, error) {
	entries, next, err := c.addressHistory()
	if err != nil {
		return nil, err
	}
	return rpcjson.AddressHistoryPage{History: entries, Next: next}, nil
}

func validateAddress(c *call) (any, error) {
	if _, err := c.str(0); err != nil {
		return nil, err
	}
	pkh, _, aerr := c.address(0)
	if aerr != nil {
		msg := aerr.Error()
		if re, ok := aerr.(*rpcjson.RPCError); ok {
			msg = re.Message
		}
		return rpcjson.ValidateAddressResult{IsValid: false, Error: msg}, nil
	}
	return rpcjson.ValidateAddressResult{IsValid: true, Address: c.s.address(pkh), PKH: hex.EncodeToString(pkh[:])}, nil
}
