package bounded

import "testing"

// TestMapEvictsOldest: past its bound the map forgets the oldest added
// entries, in order; a repeated key keeps its value and place.
func TestMapEvictsOldest(t *testing.T) {
	var none *Map[int, string]
	if _, ok := none.Get(1); ok || none.Len() != 0 {
		t.Fatal("a nil map is not empty")
	}
	m := New[int, string](3)
	m.Add(1, "a")
	m.Add(2, "b")
	m.Add(1, "again")
	m.Add(3, "c")
	if v, ok := m.Get(1); !ok || v != "a" || m.Len() != 3 {
		t.Fatalf("get 1 = %q %v, len %d", v, ok, m.Len())
	}
	m.Add(4, "d") // forgets 1
	m.Add(5, "e") // forgets 2
	for k, want := range map[int]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		if _, ok := m.Get(k); ok != want {
			t.Errorf("key %d present %v, want %v", k, ok, want)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("len %d, want 3", m.Len())
	}
	for k := 6; k < 100; k++ {
		m.Add(k, "x")
	}
	if _, ok := m.Get(97); !ok || m.Len() != 3 {
		t.Fatalf("after many adds: 97 present %v, len %d", ok, m.Len())
	}
}
