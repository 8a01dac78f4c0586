// Package p2p is Tally's network layer (SPEC section 5): a libp2p host
// (TCP and QUIC, Noise, yamux) with a persistent identity (p2p.key), the
// connection manager and the resource manager; gossipsub topics for blocks
// and transactions whose validators check every message fully before it
// is forwarded; gossipsub v1.1 peer scoring plus our own misbehaviour
// points, bans and a connection gater; a headers-first sync protocol on
// libp2p streams that fetches bodies from several peers in parallel; and
// discovery through bootstrap peers, the Kademlia DHT (rendezvous on the
// network id), optional mDNS and a peer store kept across restarts
// (peers.json).
//
// Byte formats, the validation-to-action mapping, scoring parameters, ban
// policy and resource limits are documented in docs/p2p.md.
//
// The package changes chain state only through chain.Chain's
// ProcessBlock (the chain's one writer) and the mempool only through
// Pool.Accept. It leaves to the node (cmd/noded, package node) writing
// p2p.addr, wiring the mempool to chain events, mining, and calling
// PublishBlock and PublishTx for what it accepted locally.
package p2p
