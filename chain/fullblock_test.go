package chain_test

// TestFullBlocks: named-block scenarios for every consensus rule of SPEC
// section 2, reorganizations and invalid branches, in the style of btcd's
// blockchain/fullblocktests/generate.go. The harness is in
// fullblock_harness_test.go.
//
// Every scenario runs in three modes (UTXO cache off; a 1 MiB cache
// flushed after every step by UTXOStats; a 1 MiB cache checked through
// Chain.Coin without flushing), on a database in a temporary directory that
// is closed and reopened midway and at the end. After every step the UTXO
// set is compared with one recomputed from scratch from the best chain.
//
// Expectations compare the exact rule kind, so a rule that is removed or
// checked under another kind fails the test; at the end every ErrorKind
// declared in consensus/errors.go must have been seen.

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"tally/chain"
	"tally/consensus"
	"tally/internal/testgen"
	"tally/wire"
)

func TestFullBlocks(t *testing.T) {
	all := ruleKinds(t)
	for _, mode := range fbModes {
		t.Run(mode.name, func(t *testing.T) {
			kinds := make(map[consensus.ErrorKind]int)
			g := newFBHarness(t, testgen.DevParams(), mode, kinds)
			defer g.close()
			fullBlockScenario(g)
			t.Logf("main scenario: %d blocks built, %d submissions, %d checked steps", len(g.blocks)-1, g.submits, g.steps)

			// The max_money scenario needs a network whose max_money is
			// no more than the coins in existence.
			p := *testgen.DevParams()
			p.MaxMoney = p.Allocations[0].Amount
			m := newFBHarness(t, &p, mode, kinds)
			defer m.close()
			maxMoneyScenario(m)
			t.Logf("max_money scenario: %d blocks built, %d submissions", len(m.blocks)-1, m.submits)

			unreachableRules(t, kinds)

			var missing []string
			for k, name := range all {
				if kinds[k] == 0 {
					missing = append(missing, name)
				}
			}
			sort.Strings(missing)
			if len(missing) > 0 {
				t.Fatalf("rule kinds never seen rejected: %v", missing)
			}
		})
	}
}

func fullBlockScenario(g *fbHarness) {
	t, p := g.t, g.p
	maturity := p.CoinbaseMaturity
	if maturity < 8 || maturity > 50 || p.AsertHalfLife != 0 {
		t.Fatalf("the scenario assumes the dev network: maturity 8..50 (have %d), ASERT off", maturity)
	}
	bn := func(h uint64) string { return fmt.Sprintf("b%d", h) }

	// ---------------------------------------------------------------
	// A funded start. The genesis allocation (a coinbase output of height
	// 0) is spendable at once; b1 splits it into 50 outputs, pool[0..49].
	//
	//   genesis -> b1 -> b2
	// ---------------------------------------------------------------
	split := g.pay([]coin{g.genesisOut()}, 50, 1000)
	pool := outs(split)
	g.NextBlock("b1", "genesis", []*wire.Tx{split})
	g.AcceptTip()
	g.Duplicate()

	g.NextBlock("b2", "b1", []*wire.Tx{g.pay(pool[0:1], 2, 1000)})
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Header rules, on children of b2.
	//
	//   genesis -> b1 -> b2 -> b3 -> b4
	//                     |\-> b3-ver2, b3-ver0          bad-version
	//                     |\-> b3-hash, b3-hard          high-hash
	//                     |\-> b3-abovelimit, ...        bad-target
	//                     |\-> b3-diffbits -> b4-badprev -> b5-badprev
	//                     |\-> b3-hardbits               bad-diffbits
	//                      \-> b3-mtp, b3-ancient        time-too-old
	// ---------------------------------------------------------------
	g.NextBlock("b3-ver2", "b2", nil, func(b *wire.Block) { b.Header.Version = 2 })
	g.Reject(consensus.ErrBadVersion)
	g.NextBlock("b3-ver0", "b2", nil, func(b *wire.Block) { b.Header.Version = 0 })
	g.Reject(consensus.ErrBadVersion)

	// A solved header whose nonce is changed afterwards.
	g.NextBlock("b3-hash", "b2", nil)
	g.Unsolve()
	g.Reject(consensus.ErrBadPoW)
	// Valid bits within the limit (target 1) that nothing here solves:
	// the proof of work is checked before the bits are compared with the
	// difficulty rule.
	g.NextBlock("b3-hard", "b2", nil, setBits(0x03000001))
	g.Reject(consensus.ErrBadPoW)

	// Targets above the pow limit, negative, zero, or over 256 bits.
	g.NextBlock("b3-abovelimit", "b2", nil, setBits(0x2100ffff))
	g.Reject(consensus.ErrBadTarget)
	g.NextBlock("b3-negbits", "b2", nil, setBits(0x20800001))
	g.Reject(consensus.ErrBadTarget)
	g.NextBlock("b3-zerobits", "b2", nil, setBits(0x20000000))
	g.Reject(consensus.ErrBadTarget)
	g.NextBlock("b3-overflowbits", "b2", nil, setBits(0x23000001))
	g.Reject(consensus.ErrBadTarget)

	// With ASERT off the bits must equal the genesis bits exactly: another
	// valid target, easier to mine than required or harder, is wrong.
	if p.GenesisBits != 0x207fffff {
		t.Fatalf("dev genesis bits %08x, the scenario expects 207fffff", p.GenesisBits)
	}
	g.NextBlock("b3-diffbits", "b2", nil, setBits(0x207ffffe))
	g.Reject(consensus.ErrBadBits)
	g.NextBlock("b3-hardbits", "b2", nil, setBits(0x2000ffff))
	g.Reject(consensus.ErrBadBits)

	// Time must exceed the median of the last (up to 11) blocks: here
	// [genesis, b1, b2] sorted, element 1, which is b1's time.
	if g.mtp("b2") != g.block("b1").block.Header.Time {
		t.Fatalf("median time past of b2 is not b1's time")
	}
	g.NextBlock("b3-mtp", "b2", nil, setTime(g.mtp("b2")))
	g.Reject(consensus.ErrTimeTooOld)
	g.NextBlock("b3-ancient", "b2", nil, setTime(p.GenesisTime-1))
	g.Reject(consensus.ErrTimeTooOld)
	// One second later is fine, though earlier than the parent's time.
	g.NextBlock("b3", "b2", nil, setTime(g.mtp("b2")+1))
	g.AcceptTip()

	// Children of a block marked invalid are invalid (and marked); a child
	// of a header never stored (b3-hash) is an orphan.
	g.NextBlock("b4-badprev", "b3-diffbits", nil)
	g.Reject(consensus.ErrBadPrevBlock)
	g.NextBlock("b5-badprev", "b4-badprev", nil)
	g.Reject(consensus.ErrBadPrevBlock)
	g.NextBlock("b4-orphan", "b3-hash", nil)
	g.Orphan()

	// A block from the future (more than max_future_seconds after the
	// clock) is deferred, not marked: the same block is accepted once the
	// clock has moved one second (its time is then exactly clock +
	// max_future_seconds, the latest allowed).
	g.NextBlock("b4", "b3", nil, setTime(uint64(g.now)+uint64(p.MaxFutureSeconds)+1))
	g.Reject(consensus.ErrTimeTooNew)
	g.AdvanceClock(1)
	g.AcceptTip()
	g.AdvanceClock(1_000_000) // leave room for the blocks that follow

	// ---------------------------------------------------------------
	// Block and coinbase rules, on children of b4.
	//
	//   ... -> b4 -> b5
	//            \-> b5-notx, b5-nocb, b5-2cb, b5-cbheight*, b5-cbshort,
	//                b5-cblong, b5-cblocktime, b5-cbver, b5-cbzero,
	//                b5-cbnoout, b5-cbvalue*, b5-merkle   (rejected)
	//   b5-addtx, b5-duptx, b5-swap: b5's header with another body
	// ---------------------------------------------------------------
	feeTx := g.pay(pool[1:2], 1, 5000)
	h5 := uint64(5)

	g.NextBlock("b5-notx", "b4", nil, func(b *wire.Block) { b.Txs = nil; remerkle(b) })
	g.Reject(consensus.ErrNoTxs)
	g.NextBlock("b5-nocb", "b4", []*wire.Tx{feeTx}, func(b *wire.Block) { b.Txs = b.Txs[1:]; remerkle(b) })
	g.Reject(consensus.ErrFirstTxNotCoinbase)
	g.NextBlock("b5-2cb", "b4", nil, func(b *wire.Block) {
		b.Txs = append(b.Txs, g.coinbase(h5, 1, "second"))
		remerkle(b)
	})
	g.Reject(consensus.ErrMultipleCoinbases)
	g.NextBlock("b5-cbheight+1", "b4", nil, cbHeight(h5+1))
	g.Reject(consensus.ErrBadCoinbaseHeight)
	g.NextBlock("b5-cbheight-1", "b4", nil, cbHeight(h5-1))
	g.Reject(consensus.ErrBadCoinbaseHeight)
	g.NextBlock("b5-cbshort", "b4", nil, cbExtraLen(7))
	g.Reject(consensus.ErrBadCoinbaseExtra)
	g.NextBlock("b5-cblong", "b4", nil, cbExtraLen(8+consensus.MaxCoinbaseFreeBytes+1))
	g.Reject(consensus.ErrBadCoinbaseExtra)
	g.NextBlock("b5-cblocktime", "b4", nil, cbMod(func(cb *wire.Tx) { cb.LockTime = 1 }))
	g.Reject(consensus.ErrCoinbaseLockTime)
	g.NextBlock("b5-cbver", "b4", nil, cbMod(func(cb *wire.Tx) { cb.Version = 2 }))
	g.Reject(consensus.ErrBadTxVersion)
	g.NextBlock("b5-cbzero", "b4", nil, cbMod(func(cb *wire.Tx) {
		cb.Outputs = append(cb.Outputs, wire.TxOut{Amount: 0, PKH: g.pkh})
	}))
	g.Reject(consensus.ErrBadOutputValue)
	g.NextBlock("b5-cbnoout", "b4", nil, cbMod(func(cb *wire.Tx) { cb.Outputs = nil }))
	g.Reject(consensus.ErrNoOutputs)
	// The coinbase may claim subsidy + fees (5000), not one unit more,
	// however it splits them.
	g.NextBlock("b5-cbvalue", "b4", []*wire.Tx{feeTx}, cbMod(func(cb *wire.Tx) { cb.Outputs[0].Amount++ }))
	g.Reject(consensus.ErrBadCoinbaseValue)
	g.NextBlock("b5-cbvalue2", "b4", []*wire.Tx{feeTx}, cbMod(func(cb *wire.Tx) {
		cb.Outputs[0].Amount -= 100
		cb.Outputs = append(cb.Outputs, wire.TxOut{Amount: 101, PKH: g.pkh})
	}))
	g.Reject(consensus.ErrBadCoinbaseValue)
	// A header whose Merkle root matches nothing: refused, not marked.
	g.NextBlock("b5-merkle", "b4", []*wire.Tx{feeTx}, func(b *wire.Block) { b.Header.MerkleRoot[0] ^= 1 })
	g.Reject(consensus.ErrBadMerkleRoot)

	// The genuine b5: coinbase extra of exactly 8+92 bytes, claiming
	// exactly subsidy + fees. First three bodies that do not match its
	// header: refused without marking b5's id...
	g.NextBlock("b5", "b4", []*wire.Tx{feeTx}, cbExtraLen(8+consensus.MaxCoinbaseFreeBytes))
	extraTx := g.pay(pool[2:3], 1, 0)
	g.Mutate("b5-addtx", "b5", func(b *wire.Block) { b.Txs = append(b.Txs, extraTx) })
	g.Reject(consensus.ErrBadMerkleRoot)
	g.Mutate("b5-duptx", "b5", func(b *wire.Block) { b.Txs = append(b.Txs, b.Txs[1]) })
	g.Reject(consensus.ErrBadMerkleRoot)
	g.Mutate("b5-swap", "b5", func(b *wire.Block) { b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0] })
	g.Reject(consensus.ErrBadMerkleRoot)
	// ...so the genuine block is accepted.
	g.Use("b5")
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Transaction rules, on children of b5 (height 6).
	//
	//   ... -> b5 -> b6
	//            \-> b6-* (rejected)
	// ---------------------------------------------------------------
	in := pool[3]
	one := func(amount uint64) []wire.TxOut { return []wire.TxOut{{Amount: amount, PKH: g.pkh}} }
	rejectTx := func(name string, kind consensus.ErrorKind, txs ...*wire.Tx) {
		t.Helper()
		g.NextBlock(name, "b5", txs)
		g.Reject(kind)
	}
	rejectTx("b6-dupin", consensus.ErrDuplicateInput, g.tx([]coin{in, in}, one(in.amount)))
	rejectTx("b6-noout", consensus.ErrNoOutputs, g.tx([]coin{in}, nil))
	rejectTx("b6-zeroout", consensus.ErrBadOutputValue, g.tx([]coin{in}, []wire.TxOut{{Amount: 1000, PKH: g.pkh}, {Amount: 0, PKH: g.pkh}}))
	rejectTx("b6-bigout", consensus.ErrBadOutputValue, g.tx([]coin{in}, one(p.MaxMoney+1)))
	// An output of exactly max_money passes the amount rules and fails only
	// for want of inputs.
	rejectTx("b6-maxout", consensus.ErrSpendTooMuch, g.tx([]coin{in}, one(p.MaxMoney)))
	rejectTx("b6-outsum", consensus.ErrOutputsOverflow, g.tx([]coin{in}, []wire.TxOut{{Amount: p.MaxMoney, PKH: g.pkh}, {Amount: 1, PKH: g.pkh}}))
	rejectTx("b6-overspend", consensus.ErrSpendTooMuch, g.tx([]coin{in}, one(in.amount+1)))
	rejectTx("b6-txver2", consensus.ErrBadTxVersion, g.pay([]coin{in}, 1, 0, func(tx *wire.Tx) { tx.Version = 2 }))
	rejectTx("b6-txver0", consensus.ErrBadTxVersion, g.pay([]coin{in}, 1, 0, func(tx *wire.Tx) { tx.Version = 0 }))
	rejectTx("b6-memo", consensus.ErrMemoTooLong, g.pay([]coin{in}, 1, 0, func(tx *wire.Tx) { tx.Extra = make([]byte, consensus.MaxMemoBytes+1) }))
	rejectTx("b6-toobig", consensus.ErrTxTooBig, g.sizedTx(in, p.MaxTxBytes+1))
	rejectTx("b6-nonfinal", consensus.ErrNonFinal, g.pay([]coin{in}, 1, 0, func(tx *wire.Tx) { tx.LockTime = 7 }))
	rejectTx("b6-nonfinal-max", consensus.ErrNonFinal, g.pay([]coin{in}, 1, 0, func(tx *wire.Tx) { tx.LockTime = ^uint64(0) }))
	// A transaction without inputs is by definition a coinbase, so a
	// non-coinbase transaction without inputs can only show up as a second
	// coinbase; bad-txns-vin-empty itself is checked by the pure function
	// (unreachableRules).
	rejectTx("b6-noin", consensus.ErrMultipleCoinbases, &wire.Tx{Version: 1, Outputs: one(1), Extra: []byte("no inputs")})
	rejectTx("b6-missing", consensus.ErrMissingInput, g.pay([]coin{{op: wire.OutPoint{TxID: wire.H([]byte("nothing")), Index: 0}, amount: 1000}}, 1, 0))
	rejectTx("b6-missing-index", consensus.ErrMissingInput, g.pay([]coin{{op: wire.OutPoint{TxID: split.TxID(), Index: 50}, amount: 1000}}, 1, 0))

	// Keys and signatures.
	rejectTx("b6-wrongkey", consensus.ErrWrongPubKey, g.sign(&wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: in.op}}, Outputs: one(in.amount)}, g.other))
	badSig := g.pay([]coin{in}, 1, 0)
	otherSig := consensus.SignInput(g.other, wire.SigHash(badSig, p.NetworkID))
	rejectTx("b6-badsig", consensus.ErrBadSignature, g.resign(badSig, func(r, s []byte) { copy(r, otherSig[:32]); copy(s, otherSig[32:]) }))
	// A signature made for another network.
	otherNet := g.pay([]coin{in}, 2, 0)
	netSig := consensus.SignInput(g.key, wire.SigHash(otherNet, [4]byte{0x7a, 0x11, 0xe0, 0x01}))
	rejectTx("b6-othernet", consensus.ErrBadSignature, g.resign(otherNet, func(r, s []byte) { copy(r, netSig[:32]); copy(s, netSig[32:]) }))
	// s' = n - s verifies as well (decred accepts it) but is high.
	rejectTx("b6-highs", consensus.ErrHighS, g.resign(g.pay([]coin{in}, 3, 0), func(r, s []byte) {
		var sc secp256k1.ModNScalar
		sc.SetByteSlice(s)
		sc.Negate()
		sc.PutBytesUnchecked(s)
	}))
	order := mustHex("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141")
	rejectTx("b6-r0", consensus.ErrSignatureRange, g.resign(g.pay([]coin{in}, 4, 0), func(r, s []byte) { clear(r) }))
	rejectTx("b6-s0", consensus.ErrSignatureRange, g.resign(g.pay([]coin{in}, 5, 0), func(r, s []byte) { clear(s) }))
	rejectTx("b6-rn", consensus.ErrSignatureRange, g.resign(g.pay([]coin{in}, 6, 0), func(r, s []byte) { copy(r, order) }))
	rejectTx("b6-sn", consensus.ErrSignatureRange, g.resign(g.pay([]coin{in}, 7, 0), func(r, s []byte) { copy(s, order) }))

	// Spends within a block.
	rejectTx("b6-doublespend", consensus.ErrDoubleSpend, g.pay([]coin{in}, 1, 0), g.pay([]coin{in}, 2, 100))
	// An output created earlier in the block and spent twice is a double
	// spend too.
	parentTx := g.pay([]coin{in}, 1, 0)
	rejectTx("b6-doublespend-inblock", consensus.ErrDoubleSpend, parentTx, g.pay(outs(parentTx), 1, 10), g.pay(outs(parentTx), 2, 10))
	// Outputs of a later transaction of the block are not yet there.
	rejectTx("b6-spendlater", consensus.ErrMissingInput, g.pay(outs(parentTx), 3, 10), parentTx)
	rejectTx("b6-duptx", consensus.ErrDuplicateTx, parentTx, parentTx)

	// b6 is valid with all the edge cases: a memo of exactly 80 bytes,
	// lock_time equal to the height, no fee; a chain of transactions in the
	// block; two inputs; an output to the hash of a malformed public key;
	// a coinbase extra of exactly 8 bytes.
	badPub := append([]byte{0x02}, mustHex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")...)
	edge := g.pay([]coin{pool[3]}, 1, 0, func(tx *wire.Tx) {
		tx.Extra = make([]byte, consensus.MaxMemoBytes)
		tx.LockTime = 6
	})
	chained1 := g.pay(pool[4:5], 2, 1000)
	chained2 := g.pay(outs(chained1), 1, 1000)
	twoIn := g.pay(pool[5:7], 3, 2000)
	toBadKey := g.tx(pool[8:9], []wire.TxOut{{Amount: 1_000_000, PKH: wire.Hash160(badPub)}, {Amount: pool[8].amount - 1_000_000, PKH: g.pkh}})
	g.NextBlock("b6", "b5", []*wire.Tx{edge, chained1, chained2, twoIn, toBadKey}, cbExtraLen(8))
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Height 7: malformed public key, BIP30.
	//
	//   ... -> b6 -> b7
	//            \-> b7-badpub, b7-bip30, b7-bip30-split, b7-respent
	// ---------------------------------------------------------------
	// The output's pkh is the hash of the malformed key, so the key
	// passes the pkh check and fails to parse.
	badPubTx := &wire.Tx{Version: 1, Inputs: []wire.TxIn{{Prev: outs(toBadKey)[0].op}}, Outputs: one(999_000)}
	copy(badPubTx.Inputs[0].PubKey[:], badPub)
	badPubTx.Inputs[0].Sig = consensus.SignInput(g.key, wire.SigHash(badPubTx, p.NetworkID))
	g.remember(badPubTx)
	g.NextBlock("b7-badpub", "b6", []*wire.Tx{badPubTx})
	g.Reject(consensus.ErrBadPubKey)
	// A transaction again whose outputs are all unspent, and one (the
	// split) with some outputs left: both would overwrite unspent outputs.
	g.NextBlock("b7-bip30", "b6", []*wire.Tx{twoIn})
	g.Reject(consensus.ErrOverwriteTx)
	g.NextBlock("b7-bip30-split", "b6", []*wire.Tx{split})
	g.Reject(consensus.ErrOverwriteTx)
	// chained1's outputs are all spent: including it again overwrites
	// nothing, and its input is gone.
	g.NextBlock("b7-respent", "b6", []*wire.Tx{chained1})
	g.Reject(consensus.ErrMissingInput)
	g.NextBlock("b7", "b6", []*wire.Tx{g.pay([]coin{outs(twoIn)[0], outs(chained2)[0]}, 2, 300)})
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Coinbase maturity: b1's coinbase (height 1) may be spent at height
	// 1 + maturity, not one block earlier; b2's one block later.
	//
	//   ... -> b7 -> b8 ... -> b[m] -> b[m+1]
	//                   \-> b[m]-immature  \-> b[m+1]-immature
	// ---------------------------------------------------------------
	tip := "b7"
	immH := 1 + maturity - 1
	for h := uint64(8); h < immH; h++ {
		g.NextBlock(bn(h), tip, nil)
		g.AcceptTip()
		tip = bn(h)
	}
	spendCB1 := g.pay([]coin{g.cbOut("b1")}, 1, 0)
	g.NextBlock(bn(immH)+"-immature", tip, []*wire.Tx{spendCB1})
	g.Reject(consensus.ErrImmatureSpend)
	g.NextBlock(bn(immH), tip, nil)
	g.AcceptTip()
	tip = bn(immH)
	g.NextBlock(bn(immH+1)+"-immature", tip, []*wire.Tx{g.pay([]coin{g.cbOut("b2")}, 1, 0)})
	g.Reject(consensus.ErrImmatureSpend)
	g.NextBlock(bn(immH+1), tip, []*wire.Tx{spendCB1})
	g.AcceptTip()
	base := bn(immH + 1)

	// ---------------------------------------------------------------
	// Restart: the state and the invalid marks survive; blocks refused
	// without marking are still refused for their reason.
	// ---------------------------------------------------------------
	g.Reopen()
	g.ExpectTip(base)
	g.Use("b3-diffbits")
	g.Reject(chain.ErrKnownInvalid)
	g.Use("b5-merkle")
	g.Reject(consensus.ErrBadMerkleRoot)
	g.Use(base)
	g.Duplicate()
	g.ExpectChainTip("b5-badprev", "invalid")

	// ---------------------------------------------------------------
	// Reorganizations, spending the same output differently on each side.
	//
	//   base -> r1 -> r2 -> r3 -> r4 -> r5
	//       \-> s1 -> s2 -> s3 -> s4 -> s5 -> s6
	//
	// txA (r1) and txB (s1) spend pool[10]; txS is in r1 and in s2 (its
	// coins have another height on each side); r2, r5 spend txA's
	// outputs, s2, s6 txB's.
	// ---------------------------------------------------------------
	txA := g.pay(pool[10:11], 2, 1000)
	txB := g.pay(pool[10:11], 3, 2000)
	txS := g.pay(pool[11:12], 1, 1000)
	g.NextBlock("r1", base, []*wire.Tx{txA, txS})
	g.AcceptTip()
	g.NextBlock("r2", "r1", []*wire.Tx{g.pay(outs(txA)[0:1], 1, 500)})
	g.AcceptTip()
	g.NextBlock("r3", "r2", nil)
	g.AcceptTip()
	g.NextBlock("s1", base, []*wire.Tx{txB})
	g.AcceptSide()
	g.NextBlock("s2", "s1", []*wire.Tx{g.pay(outs(txB)[1:2], 1, 500), txS})
	g.AcceptSide()
	// Equal work: the first seen (r3) stays.
	g.NextBlock("s3", "s2", nil)
	g.AcceptSide()
	g.ExpectTip("r3")
	// Heavier: reorganize three blocks deep.
	g.NextBlock("s4", "s3", nil)
	g.AcceptTip()
	g.NextBlock("r4", "r3", nil)
	g.AcceptSide()
	// And back, four deep: txA confirmed again, txB unconfirmed.
	g.NextBlock("r5", "r4", []*wire.Tx{g.pay(outs(txA)[1:2], 1, 500)})
	g.AcceptTip()
	txS5 := g.pay(pool[12:13], 2, 0)
	g.NextBlock("s5", "s4", []*wire.Tx{txS5})
	g.AcceptSide()
	// And to s again, five deep.
	g.NextBlock("s6", "s5", []*wire.Tx{g.pay(outs(txB)[0:1], 1, 500)})
	g.AcceptTip()
	g.ExpectChainTip("r5", "valid-fork")

	// ---------------------------------------------------------------
	// An invalid block found while connecting a branch that ties with the
	// first-seen tip: the node goes back to the first seen.
	//
	//   s5 -> s6 (tip)
	//     \-> e6 -> e7 (coinbase claims one unit too many)
	// ---------------------------------------------------------------
	g.NextBlock("e6", "s5", nil)
	g.AcceptSide()
	g.NextBlock("e7", "e6", nil, cbMod(func(cb *wire.Tx) { cb.Outputs[0].Amount++ }))
	g.Reject(consensus.ErrBadCoinbaseValue)
	g.ExpectTip("s6")
	g.ExpectChainTip("e7", "invalid")
	g.ExpectStatus("e6", true, false)

	// ---------------------------------------------------------------
	// A heavier branch that is invalid deep down: the node switches to it,
	// finds d5 invalid while connecting, marks d5 and its descendants, and
	// returns to s6.
	//
	//   s3 -> s4 -> s5 -> s6 (tip)
	//     \-> d4 -> d5 (spends txA's output: only on the r side) -> d6 -> d7
	//                                                                    \-> d8
	// ---------------------------------------------------------------
	g.Checkpoint() // s4..s6's coins are on disk before they go and come back
	g.NextBlock("d4", "s3", nil)
	g.AcceptSide()
	g.NextBlock("d5", "d4", []*wire.Tx{g.pay(outs(txA)[1:2], 1, 0)})
	g.AcceptSide()
	g.NextBlock("d6", "d5", nil)
	g.AcceptSide()
	g.NextBlock("d7", "d6", nil)
	g.Reject(consensus.ErrBadPrevBlock) // d7 descends from the block found invalid
	g.ExpectTip("s6")
	g.ExpectChainTip("d7", "invalid")
	g.ExpectStatus("d4", true, false)
	g.ExpectStatus("d5", false, true)
	g.ExpectStatus("d6", false, true)
	g.NextBlock("d8", "d7", nil)
	g.Reject(consensus.ErrBadPrevBlock)
	g.ExpectChainTip("d8", "invalid")
	g.Use("d5")
	g.Reject(chain.ErrKnownInvalid)
	// Spend coins that were disconnected and connected again in one step.
	g.NextBlock("s7-immature", "s6", []*wire.Tx{g.pay(outs(txS5)[0:1], 1, 0), g.pay([]coin{g.cbOut("s5")}, 1, 0)})
	g.Reject(consensus.ErrImmatureSpend) // s5's coinbase is not mature
	g.NextBlock("s7", "s6", []*wire.Tx{g.pay(outs(txS5)[0:1], 1, 0), g.pay(outs(txS5)[1:2], 2, 0)})
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Orphans: children arrive before their parents.
	//
	//   s7 -> o1 -> o2 -> o3
	//                     \-> o3x (claims too much: seen only when it must
	//                              connect) -> o4x
	// ---------------------------------------------------------------
	g.NextBlock("o1", "s7", nil)
	g.NextBlock("o2", "o1", nil)
	g.NextBlock("o3", "o2", nil)
	g.NextBlock("o3x", "o2", nil, cbMod(func(cb *wire.Tx) { cb.Outputs[0].Amount++ }))
	g.NextBlock("o4x", "o3x", nil)
	g.Use("o3")
	g.Orphan()
	g.Use("o3x")
	g.Orphan()
	g.Use("o2")
	g.Orphan()
	g.Use("o1")
	g.AcceptMain()
	g.ExpectTip("o3") // o3 came before o3x: the first seen of equal work
	g.ExpectStatus("o3x", false, false)
	g.Use("o4x")
	g.Reject(consensus.ErrBadPrevBlock) // o3x breaks a rule when o4x makes its branch heavier
	g.ExpectTip("o3")
	g.ExpectStatus("o3x", false, true)
	g.Use("o3x")
	g.Reject(chain.ErrKnownInvalid)

	// ---------------------------------------------------------------
	// Size limits: a block of exactly max_block_bytes holding nine
	// transactions of exactly max_tx_bytes; one byte more is too big. Then
	// a heavier branch takes it off the chain again.
	//
	//   o3 -> h1 (max size) -> h2
	//     |\-> h1-big (max size + 1)
	//      \-> k1 -> k2 -> k3
	//              \-> k2-old (time = median time past, over 11 blocks)
	// ---------------------------------------------------------------
	var bigTxs []*wire.Tx
	prev := pool[20]
	for range 9 {
		tx := g.sizedTx(prev, p.MaxTxBytes)
		bigTxs = append(bigTxs, tx)
		prev = outs(tx)[0]
	}
	cbTag := 8 + len("h1")
	cbSize := (&wire.Tx{Version: 1, Outputs: one(1), Extra: make([]byte, cbTag)}).SerializeSize()
	rest := p.MaxBlockBytes - wire.HeaderSize - 1 - cbSize - 9*p.MaxTxBytes
	bigTxs = append(bigTxs, g.sizedTx(prev, rest))
	g.NextBlock("h1-big", "o3", bigTxs, cbExtraLen(cbTag+1))
	if n := g.cur.block.SerializeSize(); n != p.MaxBlockBytes+1 {
		t.Fatalf("h1-big is %d bytes, want %d", n, p.MaxBlockBytes+1)
	}
	g.Reject(consensus.ErrBlockTooBig)
	g.NextBlock("h1", "o3", bigTxs)
	if n := g.cur.block.SerializeSize(); n != p.MaxBlockBytes {
		t.Fatalf("h1 is %d bytes, want %d", n, p.MaxBlockBytes)
	}
	g.AcceptTip()
	g.NextBlock("h2", "h1", []*wire.Tx{g.pay(outs(bigTxs[3])[1:3], 1, 1)})
	g.AcceptTip()
	g.NextBlock("k1", "o3", nil)
	g.AcceptSide()
	g.NextBlock("k2-old", "k1", nil, setTime(g.mtp("k1")))
	g.Reject(consensus.ErrTimeTooOld)
	g.NextBlock("k2", "k1", nil, setTime(g.mtp("k1")+1))
	g.AcceptSide()
	g.NextBlock("k3", "k2", []*wire.Tx{g.pay(pool[20:21], 2, 0)})
	g.AcceptTip()

	// ---------------------------------------------------------------
	// Restart again, and check what getchaintips reports.
	// ---------------------------------------------------------------
	g.Reopen()
	g.ExpectTip("k3")
	g.ExpectChainTip("k3", "active")
	g.ExpectChainTip("h2", "valid-fork")
	g.ExpectChainTip("d8", "invalid")
	g.ExpectChainTip("e7", "invalid")
	g.ExpectChainTip("o4x", "invalid")
	g.Use("d6")
	g.Reject(chain.ErrKnownInvalid)
	g.Use("h2")
	g.Duplicate()
	g.NextBlock("k4-spent", "k3", []*wire.Tx{g.pay(outs(txS5)[1:2], 1, 0)})
	g.Reject(consensus.ErrMissingInput) // spent in s7, which this chain holds
	g.NextBlock("k4-immature", "k3", []*wire.Tx{g.pay([]coin{g.cbOut("s7")}, 1, 0)})
	g.Reject(consensus.ErrImmatureSpend)
	g.NextBlock("k4", "k3", nil)
	g.AcceptTip()
	g.Checkpoint()
}

// maxMoneyScenario runs on a network whose max_money equals the genesis
// allocation, so that sums of inputs and of fees can exceed it.
//
//	genesis -> m1 -> ... -> m[maturity] -> m[maturity+1]
//	                                   \-> m-inputs, m-fees (rejected)
func maxMoneyScenario(g *fbHarness) {
	p := g.p
	alloc := g.genesisOut()
	if alloc.amount != p.MaxMoney {
		g.t.Fatalf("max_money %d, allocation %d", p.MaxMoney, alloc.amount)
	}
	tip := "genesis"
	for h := uint64(1); h <= p.CoinbaseMaturity; h++ {
		name := fmt.Sprintf("m%d", h)
		g.NextBlock(name, tip, nil)
		g.AcceptTip()
		tip = name
	}
	// m1's coinbase is mature at height maturity+1.
	cb := g.cbOut("m1")
	// Inputs summing to max_money + subsidy.
	g.NextBlock("m-inputs", tip, []*wire.Tx{g.tx([]coin{alloc, cb}, []wire.TxOut{{Amount: p.MaxMoney, PKH: g.pkh}})},
		cbMod(func(cb *wire.Tx) { cb.Outputs[0].Amount = consensus.Subsidy(p, p.CoinbaseMaturity+1) }))
	g.Reject(consensus.ErrInputsOverflow)
	// Two transactions, each within the limits, whose fees together
	// exceed max_money.
	g.NextBlock("m-fees", tip, []*wire.Tx{g.pay([]coin{alloc}, 1, alloc.amount-1), g.pay([]coin{cb}, 1, cb.amount-1)},
		cbMod(func(cb *wire.Tx) { cb.Outputs[0].Amount = 1 }))
	g.Reject(consensus.ErrInputsOverflow)
	// Inputs of exactly max_money are fine.
	g.NextBlock(fmt.Sprintf("m%d", p.CoinbaseMaturity+1), tip, []*wire.Tx{g.pay([]coin{alloc}, 2, 0), g.pay([]coin{cb}, 1, 0)})
	g.AcceptTip()
	g.Reopen()
}

// unreachableRules checks with the pure functions the rules that no block
// can break through the chain: a transaction without inputs is a coinbase
// by definition (in a block, a second coinbase: bad-cb-multiple), so
// bad-txns-vin-empty can only come from CheckTxInputs called on its own.
func unreachableRules(t *testing.T, kinds map[consensus.ErrorKind]int) {
	t.Helper()
	p := testgen.DevParams()
	tx := &wire.Tx{Version: 1, Outputs: []wire.TxOut{{Amount: 1, PKH: consensus.DevPKH()}}}
	_, err := consensus.CheckTxInputs(tx, tx.TxID(), 1, emptyView{}, p)
	if !errors.Is(err, consensus.ErrNoInputs) {
		t.Fatalf("CheckTxInputs without inputs: %v, want %q", err, consensus.ErrNoInputs)
	}
	kinds[consensus.ErrNoInputs]++
}

type emptyView struct{}

func (emptyView) Coin(wire.OutPoint) (wire.Coin, bool, error) { return wire.Coin{}, false, nil }

// TestFullBlocksStorageRules: scenarios for SPEC section 4's storage rules
// and the zero-reward coinbase of section 2, in every mode.
//
//	genesis -> m1 -> m2 -> m3 -> m4 -> o5 -> o6
//	   |             \-> s3 (gossip, equal work: stored)
//	   \-> f1 (gossip, less work: refused)
//	m4 -> bad-old (gossip, time-too-old) -> bad-child
func TestFullBlocksStorageRules(t *testing.T) {
	for _, mode := range fbModes {
		t.Run(mode.name, func(t *testing.T) {
			g := newFBHarness(t, testgen.DevParams(), mode, nil)
			defer g.close()
			g.NextBlock("m1", "genesis", nil)
			g.AcceptTip()
			g.NextBlock("m2", "m1", nil)
			g.AcceptTip()
			g.NextBlock("m3", "m2", nil)
			g.AcceptTip()

			g.FromGossip()
			// Less work than the tip: not worth storing.
			g.NextBlock("f1", "genesis", []*wire.Tx{g.pay([]coin{g.genesisOut()}, 2, 10)})
			g.RefuseLowWork()
			// As much work as the tip: stored on a side branch.
			g.NextBlock("s3", "m2", nil)
			g.AcceptSide()
			g.ExpectTip("m3")
			g.NextBlock("m4", "m3", nil)
			g.AcceptTip()
			// Invalid headers from a peer: remembered in memory only.
			g.NextBlock("bad-old", "m4", nil, setTime(g.mtp("m4")))
			g.Reject(consensus.ErrTimeTooOld)
			g.NextBlock("bad-child", "bad-old", nil)
			g.Reject(consensus.ErrBadPrevBlock)
			// A mutated orphan, then the genuine one, then its parent.
			g.NextBlock("o5", "m4", nil)
			g.NextBlock("o6", "o5", []*wire.Tx{g.pay([]coin{g.genesisOut()}, 1, 0)})
			g.Mutate("o6-mut", "o6", func(b *wire.Block) { b.Txs = b.Txs[:1] })
			g.Reject(consensus.ErrBadMerkleRoot)
			g.Use("o6")
			g.Orphan()
			g.Use("o5")
			g.AcceptMain()
			g.ExpectTip("o6")

			g.Reopen()
			g.ExpectUnknown("bad-old")
			g.ExpectUnknown("bad-child")
			g.ExpectUnknown("f1")
			g.Use("bad-child")
			g.Orphan() // its parent is unknown again
			g.Use("bad-old")
			g.Reject(consensus.ErrTimeTooOld) // judged again by its rule
			g.FromOperator()
			g.Use("f1") // the operator's own block is stored as given
			g.AcceptSide()
		})
	}
}

// TestFullBlocksZeroReward: once the subsidy has run out, a block without
// fees has a coinbase with no outputs, a block with fees pays them, and a
// coinbase breaking either way is refused (SPEC section 2).
func TestFullBlocksZeroReward(t *testing.T) {
	for _, mode := range fbModes {
		t.Run(mode.name, func(t *testing.T) {
			p := *testgen.DevParams()
			p.InitialSubsidy = 0
			g := newFBHarness(t, &p, mode, nil)
			defer g.close()
			g.NextBlock("z1", "genesis", nil)
			if n := len(g.cur.block.Txs[0].Outputs); n != 0 {
				t.Fatalf("zero-reward coinbase has %d outputs", n)
			}
			g.AcceptTip()
			pay := g.pay([]coin{g.genesisOut()}, 3, 700)
			g.NextBlock("z2", "z1", []*wire.Tx{pay})
			g.AcceptTip()
			g.NextBlock("z3-noout", "z2", []*wire.Tx{g.pay(outs(pay)[:1], 1, 50)}, cbMod(func(cb *wire.Tx) { cb.Outputs = nil }))
			g.Reject(consensus.ErrNoOutputs)
			g.NextBlock("z3-pays", "z2", nil, cbMod(func(cb *wire.Tx) { cb.Outputs = []wire.TxOut{{Amount: 1, PKH: g.pkh}} }))
			g.Reject(consensus.ErrBadCoinbaseValue)
			g.NextBlock("z3", "z2", []*wire.Tx{g.pay(outs(pay)[1:2], 1, 50)})
			g.AcceptTip()
			g.NextBlock("z4", "z3", nil)
			g.AcceptTip()
			g.Reopen()
			g.ExpectTip("z4")
		})
	}
}
