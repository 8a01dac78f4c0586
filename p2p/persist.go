package p2p

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"tally/internal/atomicfile"
)

// Files in the data directory.
const (
	KeyFile   = "p2p.key"    // the node's libp2p identity (private key, protobuf)
	PeersFile = "peers.json" // known peer addresses and bans
	AddrFile  = "p2p.addr"   // listen multiaddrs with /p2p/<id>, one a line (written by the node)
)

// loadOrCreateKey reads the node key from dir/p2p.key, creating an Ed25519
// key (mode 0600, written atomically) if the file does not exist.
func loadOrCreateKey(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, KeyFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("node key %s is not a libp2p private key (%v); move it away to make a new identity", path, err)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read node key: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	raw, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode node key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := atomicfile.Create(path, raw, 0o600); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			// Another process made one meanwhile: use it.
			return loadOrCreateKey(dir)
		}
		return nil, fmt.Errorf("write node key %s: %w", path, err)
	}
	return k, nil
}

// peerRecord is one known peer in peers.json.
type peerRecord struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// LastSeen: last successful outbound connection (tried table) or
	// when we last heard of it (new table), unix seconds.
	LastSeen int64 `json:"last_seen"`
	LastTry  int64 `json:"last_try,omitempty"`
	Failures int   `json:"failures,omitempty"` // failed dials in a row
}

// peersFile is the layout of peers.json (version 2; version 1 had only
// "peers", read as the tried table).
type peersFile struct {
	Version int          `json:"version"`
	Saved   int64        `json:"saved"`
	Tried   []peerRecord `json:"tried"`
	New     []peerRecord `json:"new"`
	Peers   []peerRecord `json:"peers,omitempty"`
	Bans    []BanInfo    `json:"bans"`
}

const peersVersion = 2

func loadPeersFile(path string) (*peersFile, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &peersFile{Version: peersVersion}, nil
	}
	if err != nil {
		return nil, err
	}
	var f peersFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s is not a peer list (%v); delete it to start afresh", path, err)
	}
	f.Tried = append(f.Tried, f.Peers...)
	f.Peers = nil
	return &f, nil
}

// savePeersFile writes f atomically (a crash leaves the old file or the
// new one, never half of one).
func savePeersFile(path string, f *peersFile, now time.Time) error {
	f.Version = peersVersion
	f.Saved = now.Unix()
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(raw, '\n'), 0o600)
}

// Address book bounds (docs/p2p.md, "Discovery").
const (
	maxTried = 256
	maxNew   = 1024
	// maxNewFailures: an address only heard of is forgotten after this
	// many failed dials in a row.
	maxNewFailures = 3
	// retryDial: after failed dials an address waits 1 s, 2 s, 4 s, ...
	// up to this before it is dialed again.
	retryDial = 30 * time.Second
)

// addrBook keeps the peers the node has connected to (tried) apart from
// the peers it has only heard of (new), as Bitcoin Core's addrman does:
// addresses that inbound peers, the DHT or a flood of fakes hand us land
// in new and cannot push out the tried peers the node rejoins through
// after a restart. Safe for concurrent use.
type addrBook struct {
	mu    sync.Mutex
	tried map[string]*peerRecord
	new   map[string]*peerRecord
}

func newAddrBook() *addrBook {
	return &addrBook{tried: make(map[string]*peerRecord), new: make(map[string]*peerRecord)}
}

func recordOf(ai peer.AddrInfo) *peerRecord {
	r := &peerRecord{ID: ai.ID.String()}
	for _, a := range ai.Addrs {
		r.Addrs = append(r.Addrs, a.String())
	}
	return r
}

// load fills the book from the peer store.
func (b *addrBook) load(f *peersFile) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range f.Tried {
		if _, err := peer.Decode(r.ID); err == nil && len(r.Addrs) > 0 {
			rc := r
			b.tried[r.ID] = &rc
		}
	}
	for _, r := range f.New {
		if _, err := peer.Decode(r.ID); err == nil && len(r.Addrs) > 0 && b.tried[r.ID] == nil {
			rc := r
			b.new[r.ID] = &rc
		}
	}
	evict(b.tried, maxTried)
	evict(b.new, maxNew)
}

// evict drops the least recently seen records beyond max.
func evict(m map[string]*peerRecord, max int) {
	for len(m) > max {
		var old *peerRecord
		for _, r := range m {
			if old == nil || r.LastSeen < old.LastSeen || (r.LastSeen == old.LastSeen && r.ID < old.ID) {
				old = r
			}
		}
		delete(m, old.ID)
	}
}

// heard adds addresses learned of (DHT, mDNS, an inbound peer's listen
// addresses) to the new table; a tried peer only has its addresses
// refreshed.
func (b *addrBook) heard(ai peer.AddrInfo, now time.Time) {
	if len(ai.Addrs) == 0 {
		return
	}
	r := recordOf(ai)
	b.mu.Lock()
	defer b.mu.Unlock()
	if t := b.tried[r.ID]; t != nil {
		t.Addrs = r.Addrs
		return
	}
	if old := b.new[r.ID]; old != nil {
		old.Addrs = r.Addrs
		return
	}
	r.LastSeen = now.Unix()
	b.new[r.ID] = r
	evict(b.new, maxNew)
}

// attempt records an outbound dial: success moves the peer to tried.
func (b *addrBook) attempt(ai peer.AddrInfo, ok bool, now time.Time) {
	id := ai.ID.String()
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		r := recordOf(ai)
		if len(r.Addrs) == 0 {
			if old := b.tried[id]; old != nil {
				r.Addrs = old.Addrs
			} else if old := b.new[id]; old != nil {
				r.Addrs = old.Addrs
			}
		}
		if len(r.Addrs) == 0 {
			return
		}
		r.LastSeen, r.LastTry = now.Unix(), now.Unix()
		delete(b.new, id)
		b.tried[id] = r
		evict(b.tried, maxTried)
		return
	}
	r := b.tried[id]
	if r == nil {
		r = b.new[id]
	}
	if r == nil {
		return
	}
	r.LastTry = now.Unix()
	r.Failures++
	if b.new[id] == r && r.Failures >= maxNewFailures {
		delete(b.new, id)
	}
}

// remove forgets a peer (banned).
func (b *addrBook) remove(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tried, p.String())
	delete(b.new, p.String())
}

// candidates returns up to max peers to dial that skip accepts: tried
// peers first, most recently seen first, then new ones; addresses that
// failed are left out for a while (retryDial).
func (b *addrBook) candidates(max int, now time.Time, skip func(peer.ID) bool) []peer.AddrInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []peer.AddrInfo
	for _, table := range []map[string]*peerRecord{b.tried, b.new} {
		recs := make([]*peerRecord, 0, len(table))
		for _, r := range table {
			if r.Failures > 0 && now.Sub(time.Unix(r.LastTry, 0)) < min(retryDial, time.Second<<min(r.Failures-1, 5)) {
				continue
			}
			recs = append(recs, r)
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].LastSeen > recs[j].LastSeen })
		for _, r := range recs {
			if len(out) >= max {
				return out
			}
			ai, ok := r.addrInfo()
			if ok && !skip(ai.ID) {
				out = append(out, ai)
			}
		}
	}
	return out
}

// counts returns the sizes of the two tables.
func (b *addrBook) counts() (tried, new int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tried), len(b.new)
}

func (r *peerRecord) addrInfo() (peer.AddrInfo, bool) {
	id, err := peer.Decode(r.ID)
	if err != nil {
		return peer.AddrInfo{}, false
	}
	ai := peer.AddrInfo{ID: id}
	for _, s := range r.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai, len(ai.Addrs) > 0
}

// snapshot returns the tables for peers.json, most recent first.
func (b *addrBook) snapshot() (tried, new []peerRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.tried {
		tried = append(tried, *r)
	}
	for _, r := range b.new {
		new = append(new, *r)
	}
	for _, l := range [][]peerRecord{tried, new} {
		sort.Slice(l, func(i, j int) bool {
			return l[i].LastSeen > l[j].LastSeen || (l[i].LastSeen == l[j].LastSeen && l[i].ID < l[j].ID)
		})
	}
	return tried, new
}

// ephemeralKey returns a fresh identity for a node without a data
// directory.
func ephemeralKey() (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate node key: %w", err)
	}
	return k, nil
}

// peerStoreSaveEvery: peers.json is also written this often while the
// node runs (last-seen times).
const peerStoreSaveEvery = time.Minute

// peerStoreChanged asks the save loop to write peers.json soon.
func (n *Node) peerStoreChanged() {
	select {
	case n.dirty <- struct{}{}:
	default:
	}
}

// saveLoop writes peers.json PeerSaveDelay after a change (coalescing a
// burst of changes into one write) and every peerStoreSaveEvery, so a
// node killed with SIGKILL restarts knowing the peers and bans of a few
// seconds before.
func (n *Node) saveLoop() {
	if n.cfg.DataDir == "" {
		return
	}
	ctx := n.runCtx()
	t := newTicker(n.clock, peerStoreSaveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.dirty:
			if !sleep(ctx, n.clock, n.cfg.PeerSaveDelay) {
				return
			}
		case <-t.C:
		}
		n.savePeers()
	}
}

// savePeers records the connected peers' listen addresses (identify)
// and writes the address book with the active bans.
func (n *Node) savePeers() {
	if n.cfg.DataDir == "" || n.host == nil {
		return
	}
	now := n.clock.Now()
	for _, p := range n.host.Network().Peers() {
		if n.bans.banned(p) {
			n.addrs.remove(p)
			continue
		}
		addrs := n.host.Peerstore().Addrs(p)
		if n.gater.addrOK != nil {
			addrs = filterAddrs(addrs, n.gater.addrOK)
		}
		n.addrs.heard(peer.AddrInfo{ID: p, Addrs: addrs}, now)
	}
	for _, b := range n.bans.list() {
		if id, err := peer.Decode(b.ID); err == nil {
			n.addrs.remove(id)
		}
	}
	f := &peersFile{Bans: n.bans.list()}
	f.Tried, f.New = n.addrs.snapshot()
	n.storeMu.Lock()
	defer n.storeMu.Unlock()
	if err := savePeersFile(filepath.Join(n.cfg.DataDir, PeersFile), f, now); err != nil {
		n.log.Warn("could not save the peer store", "err", err)
		return
	}
	n.stats.peerSaves.Add(1)
}
