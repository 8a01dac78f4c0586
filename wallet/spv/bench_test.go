package spv

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tally/wire"
)

// fixedProofSource serves one prebuilt proof, so a benchmark measures the
// client's checks rather than the fake node.
type fixedProofSource struct {
	fakeSource
	proof *Proof
}

func (f *fixedProofSource) GetMerkleProof(context.Context, wire.Hash) (*Proof, error) {
	return f.proof, nil
}

// BenchmarkVerifyHeaders verifies a chain of 2,000 headers (linkage,
// proof of work, ASERT bits, median time past) as Sync and OpenStore do.
//
//	go test ./wallet/spv -run '^$' -bench . -benchtime 2s
func BenchmarkVerifyHeaders(b *testing.B) {
	p := testParams(b)
	bl := newBuilder(b, p)
	// Alternate fast and slow blocks so the ASERT bits keep changing.
	blocks := bl.genesisChain()
	for len(blocks) < 2001 {
		blocks = bl.extend(blocks, 5, 60)
		blocks = bl.extend(blocks, 5, 1140)
	}
	blocks = blocks[:2001]
	headers := headersOf(blocks)
	now := int64(headers[len(headers)-1].Time)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := newCursor(p)
		for j := 1; j < len(headers); j++ {
			if _, err := c.next(&headers[j], now); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*(len(headers)-1))/b.Elapsed().Seconds(), "headers/s")
}

// BenchmarkVerifyProof checks a Merkle proof of a transaction in a block
// of 1,000 transactions (10 sibling hashes) against the header chain, as
// VerifyTx does after the node's answer arrives.
func BenchmarkVerifyProof(b *testing.B) {
	p := testParams(b)
	bl := newBuilder(b, p)
	blocks := bl.withTxs(bl.extend(bl.genesisChain(), 5, 600), 999, 600)
	blocks = bl.extend(blocks, 5, 600)
	ids := blocks[6].TxIDs()
	mp, err := wire.BuildMerkleProof(ids, 777)
	if err != nil {
		b.Fatal(err)
	}
	src := &fixedProofSource{fakeSource: fakeSource{blocks: blocks},
		proof: &Proof{Height: 6, BlockID: blocks[6].BlockID(), Header: blocks[6].Header, Merkle: mp}}
	c := newTestClient(p, src)
	if _, err := c.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		conf, err := c.VerifyTx(ctx, ids[777])
		if err != nil || conf.Confirmations != 6 {
			b.Fatal(conf, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "proofs/s")
}

// BenchmarkSyncToFile syncs 2,000 headers from an in-memory source into
// a new headers.dat (verification, the fork search, appends and fsync),
// then reopens the file (verifying every header again).
func BenchmarkSyncToFile(b *testing.B) {
	p := testParams(b)
	bl := newBuilder(b, p)
	blocks := bl.genesisChain()
	for len(blocks) < 2001 {
		blocks = bl.extend(blocks, 5, 60)
		blocks = bl.extend(blocks, 5, 1140)
	}
	blocks = blocks[:2001]
	now := time.Unix(int64(blocks[2000].Header.Time), 0)
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, fmt.Sprintf("headers-%d.dat", i))
		s, err := OpenStore(path, p)
		if err != nil {
			b.Fatal(err)
		}
		c := NewClient(p, s, &fakeSource{blocks: blocks})
		c.Now = func() time.Time { return now }
		if _, err := c.Sync(context.Background()); err != nil || s.Height() != 2000 {
			b.Fatal(err, s.Height())
		}
		s.Close()
		if s, err = OpenStore(path, p); err != nil || s.Height() != 2000 {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(b.N*2000)/b.Elapsed().Seconds(), "headers/s")
}
