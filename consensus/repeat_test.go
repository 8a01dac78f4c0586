package consensus

import (
	"testing"

	"tally/wire"
)

// TestFirstRepeat: the first txid equal to an earlier one is found, and
// txids that only share their first 8 bytes (the sorted keys) are not
// taken for a repeat.
func TestFirstRepeat(t *testing.T) {
	id := func(prefix, rest byte) wire.Hash {
		var h wire.Hash
		h[0], h[31] = prefix, rest
		return h
	}
	for _, c := range []struct {
		name  string
		txids []wire.Hash
		want  int
	}{
		{"none", []wire.Hash{id(1, 0), id(2, 0), id(3, 0)}, -1},
		{"empty", nil, -1},
		{"repeat", []wire.Hash{id(1, 0), id(2, 0), id(1, 0)}, 2},
		{"first of two repeats", []wire.Hash{id(5, 0), id(2, 0), id(2, 0), id(5, 0)}, 2},
		{"same first 8 bytes, different txids", []wire.Hash{id(1, 1), id(2, 0), id(1, 2)}, -1},
		{"same first 8 bytes, then a repeat", []wire.Hash{id(1, 1), id(1, 2), id(3, 0), id(1, 2)}, 3},
	} {
		if got := firstRepeat(c.txids); got != c.want {
			t.Errorf("%s: firstRepeat = %d, want %d", c.name, got, c.want)
		}
	}
}
