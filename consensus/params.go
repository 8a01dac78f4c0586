package consensus

import (
	"math/big"

	"tally/wire"
)

// Allocation is one output of the genesis coinbase.
type Allocation struct {
	Address string
	PKH     [20]byte
	Amount  uint64
}

// Params are a network's consensus parameters and identity, loaded from
// genesis.json (see LoadGenesis).
type Params struct {
	Network       string
	NetworkID     [4]byte
	AddressPrefix string

	GenesisTime    uint64
	GenesisBits    uint32
	GenesisNonce   uint64
	GenesisMessage string
	Allocations    []Allocation

	PowLimitBits     uint32
	PowLimit         *big.Int // target of PowLimitBits
	TargetSpacing    int64    // seconds
	AsertHalfLife    int64    // seconds; 0 turns retargeting off
	MaxBlockBytes    int
	MaxTxBytes       int
	CoinbaseMaturity uint64
	InitialSubsidy   uint64
	HalvingInterval  uint64
	MaxMoney         uint64
	MaxFutureSeconds int64
	RPCPort          int
	P2PPort          int
	Bootstrap        []string
	// AssumeValid is the default --assumevalid block (genesis.json
	// assume_valid); the zero hash means none.
	AssumeValid wire.Hash

	// Genesis is the genesis block built from the fields above, and
	// GenesisID its id.
	Genesis   *wire.Block
	GenesisID wire.Hash
}
