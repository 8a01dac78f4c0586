package node

// MemoryOverheadMB is the memory the node is budgeted beyond --dbcache
// and --maxmempool: the block index, blocks in flight during sync (up to
// 64 MiB), LevelDB's write buffers, the signature cache,
// libp2p, and headroom for the garbage collector.
const MemoryOverheadMB = 512

// MemoryLimit is the node's memory budget (bytes), which its resident set
// stays within: --dbcache, half as much again for LevelDB's block cache
// (which the chain sizes from --dbcache) and a flush's transaction,
// --maxmempool, and MemoryOverheadMB. Without a soft limit
// (RuntimeMemoryLimit) the collector lets the heap grow to twice what is
// live before collecting, so a node with --dbcache 1024 would reach about
// three gigabytes during initial sync.
func (c *Config) MemoryLimit() int64 {
	return (int64(c.DBCacheMB)*3/2 + int64(c.MaxMempoolMB) + MemoryOverheadMB) << 20
}

// RuntimeMarginMB is what the process's resident memory holds beyond the
// Go runtime's own count (the binary's code and data) plus the overshoot
// before the collector catches up with a soft limit: noded gives the
// runtime MemoryLimit less this, so that the resident set stays within
// MemoryLimit.
const RuntimeMarginMB = 96

// RuntimeMemoryLimit is the soft limit noded sets (debug.SetMemoryLimit)
// unless GOMEMLIMIT is set.
func (c *Config) RuntimeMemoryLimit() int64 {
	return c.MemoryLimit() - RuntimeMarginMB<<20
}
