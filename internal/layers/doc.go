// Package layers holds no code: its test checks that Tally's packages
// import each other only in the direction docs/architecture.md draws
// (wire <- consensus <- chain <- mempool <- mining, p2p, rpc <- node <- cmd),
// and that the wallet links neither LevelDB nor libp2p.
package layers
