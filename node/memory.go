package node

// MemoryOverheadMB is the memory the node is budgeted beyond --dbcache
// and --maxmempool: the block index, blocks in flight during sync (up to
// 64 MiB), LevelDB's write buffers and block cache, the signature cache,
// libp2p, and headroom for the garbage collector.
const MemoryOverheadMB = 512

// MemoryLimit is the soft limit (bytes) noded gives the Go runtime
// (debug.SetMemoryLimit) unless GOMEMLIMIT is set: --dbcache, half as much
// again for the batch that flushes a full cache, --maxmempool, and
// MemoryOverheadMB. Without it the collector lets the heap grow to twice
// what is live before collecting, so a node with --dbcache 1024 would
// reach about three gigabytes during initial sync.
func (c *Config) MemoryLimit() int64 {
	return (int64(c.DBCacheMB)*3/2 + int64(c.MaxMempoolMB) + MemoryOverheadMB) << 20
}
