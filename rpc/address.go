package rpc

import (
	"encoding/hex"
	"tally/rpc/rpcjson"
)

// MaxAddressResults bounds getaddressutxos and getaddresstxids; an
// address with more gets -8 (narrow getaddresstxids with heights).
const MaxAddressResults = 10_000

var addressMethods = []*method{
	{
		Name: "getaddressbalance", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "address", Doc: "a bech32m address of this network"}},
		Summary: "Returns an address's confirmed balance and everything it has received (--addrindex).",
		Result:  "{balance, received, utxos}",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex", "-28 the address index is still being built"},
		Handler: getAddressBalance,
	},
	{
		Name: "getaddressutxos", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "address", Doc: "a bech32m address of this network"}},
		Summary: "Returns an address's confirmed unspent outputs, in (txid, vout) order, marking those a pool transaction spends (--addrindex). At most 10,000.",
		Result:  "[{address, txid, vout, value, height, coinbase, confirmations, spent_by_mempool}]",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex, or more than 10,000 outputs", "-28 the address index is still being built"},
		Handler: getAddressUTXOs,
	},
	{
		Name: "getaddresstxids", Family: "Addresses", Public: true,
		Params: []param{
			{Name: "address", Type: "address", Doc: "a bech32m address of this network"},
			{Name: "start", Type: "number", Optional: true, Default: "0", Doc: "lowest block height"},
			{Name: "end", Type: "number", Optional: true, Default: "the tip", Doc: "highest block height"},
		},
		Summary: "Returns the confirmed transactions that paid or spent an address, by height (--addrindex). At most 10,000.",
		Result:  "[txid]",
		Errors:  []string{"-5 Invalid address", "-8 requires --addrindex, or more than 10,000 transactions in the range", "-28 the address index is still being built"},
		Handler: getAddressTxIDs,
	},
	{
		Name: "validateaddress", Family: "Addresses", Public: true,
		Params:  []param{{Name: "address", Type: "string", Doc: "text to check"}},
		Summary: "Says whether a string is a valid address of this network (no index needed).",
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

func getAddressBalance(c *call) (any, error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, err
	}
	b, err := ix.Balance(pkh)
	if err != nil {
		return nil, err
	}
	return rpcjson.AddressBalance{Balance: b.Balance, Received: b.Received, UTXOs: b.UTXOs}, nil
}

func getAddressUTXOs(c *call) (any, error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, err
	}
	addr := c.s.address(pkh)
	utxos, more, err := ix.UTXOs(pkh, MaxAddressResults)
	if err != nil {
		return nil, err
	}
	if more {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "address has more than %d unspent outputs", MaxAddressResults)
	}
	tip := c.s.deps.Chain.Tip().Height
	out := make([]rpcjson.AddressUTXO, len(utxos))
	for i, u := range utxos {
		out[i] = rpcjson.AddressUTXO{Address: addr, TxID: u.OutPoint.TxID, Vout: u.OutPoint.Index, Value: u.Amount,
			Height: u.Height, Coinbase: u.Coinbase}
		if tip >= u.Height {
			out[i].Confirmations = tip - u.Height + 1
		}
		if sp, ok := c.s.deps.Mempool.Spender(u.OutPoint); ok {
			out[i].SpentBy = &sp
		}
	}
	return out, nil
}

func getAddressTxIDs(c *call) (any, error) {
	ix, pkh, err := c.addrQuery()
	if err != nil {
		return nil, err
	}
	from, err := c.optUint(1, 0, 0, ^uint64(0))
	if err != nil {
		return nil, err
	}
	to, err := c.optUint(2, ^uint64(0), 0, ^uint64(0))
	if err != nil {
		return nil, err
	}
	refs, more, err := ix.TxIDs(pkh, from, to, MaxAddressResults)
	if err != nil {
		return nil, err
	}
	if more {
		return nil, rpcErr(rpcjson.CodeInvalidParameter, "more than %d transactions in the range: narrow it with start and end", MaxAddressResults)
	}
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.TxID.String()
	}
	return out, nil
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
