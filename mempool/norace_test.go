//go:build !race

package mempool

// raceEnabled shortens the long tests under the race detector.
const raceEnabled = false
