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
	ID       string   `json:"id"`
	Addrs    []string `json:"addrs"`
	LastSeen int64    `json:"last_seen"` // unix seconds
}

// peersFile is the layout of peers.json.
type peersFile struct {
	Version int          `json:"version"`
	Saved   int64        `json:"saved"`
	Peers   []peerRecord `json:"peers"`
	Bans    []BanInfo    `json:"bans"`
}

// maxSavedPeers bounds peers.json.
const maxSavedPeers = 256

func loadPeersFile(path string) (*peersFile, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &peersFile{Version: 1}, nil
	}
	if err != nil {
		return nil, err
	}
	var f peersFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s is not a peer list (%v); delete it to start afresh", path, err)
	}
	return &f, nil
}

// addrInfos turns records into dialable peer infos, newest first, skipping
// what does not parse.
func (f *peersFile) addrInfos() []peer.AddrInfo {
	recs := append([]peerRecord(nil), f.Peers...)
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].LastSeen > recs[j].LastSeen })
	var out []peer.AddrInfo
	for _, r := range recs {
		id, err := peer.Decode(r.ID)
		if err != nil {
			continue
		}
		ai := peer.AddrInfo{ID: id}
		for _, s := range r.Addrs {
			if a, err := ma.NewMultiaddr(s); err == nil {
				ai.Addrs = append(ai.Addrs, a)
			}
		}
		if len(ai.Addrs) > 0 {
			out = append(out, ai)
		}
	}
	return out
}

// merge records peers seen now into f, keeping the maxSavedPeers most
// recently seen.
func (f *peersFile) merge(seen []peer.AddrInfo, now time.Time) {
	byID := make(map[string]int, len(f.Peers))
	for i, r := range f.Peers {
		byID[r.ID] = i
	}
	for _, ai := range seen {
		rec := peerRecord{ID: ai.ID.String(), LastSeen: now.Unix()}
		for _, a := range ai.Addrs {
			rec.Addrs = append(rec.Addrs, a.String())
		}
		if len(rec.Addrs) == 0 {
			continue
		}
		if i, ok := byID[rec.ID]; ok {
			f.Peers[i] = rec
		} else {
			byID[rec.ID] = len(f.Peers)
			f.Peers = append(f.Peers, rec)
		}
	}
	sort.SliceStable(f.Peers, func(i, j int) bool { return f.Peers[i].LastSeen > f.Peers[j].LastSeen })
	if len(f.Peers) > maxSavedPeers {
		f.Peers = f.Peers[:maxSavedPeers]
	}
}

func (f *peersFile) save(path string, now time.Time) error {
	f.Version = 1
	f.Saved = now.Unix()
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(raw, '\n'), 0o600)
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
