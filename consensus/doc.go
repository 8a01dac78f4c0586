// Package consensus holds Tally's consensus: the network parameters loaded
// from genesis.json (LoadGenesis, Default) together with the genesis block
// they define, proof of work and compact targets, the ASERT (aserti3-2d)
// difficulty rule, the block subsidy, and the validation rules.
//
// Everything here is a pure function over explicit inputs. A rule violation
// is returned as a *RuleError whose kind callers match with errors.Is; a rule
// never returns a bare error. The package holds no storage, network, logging
// or clock: the caller passes the current time, the parent's context and
// the UTXO view, and decides what a rule error means for the peer that sent
// the data.
package consensus
