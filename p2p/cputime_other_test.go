//go:build !linux

package p2p

import "time"

// cpuTime is not measured off Linux.
func cpuTime() time.Duration { return 0 }
