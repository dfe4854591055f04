package redirect

import "sync/atomic"

// doorkeeper decides which missed links enter a full cache: those missed before within the last
// window misses (window is the cache's size). A link asked for once, by a crawler walking every
// code or in a spread of traffic wider than the cache, is served from the link set without
// evicting anything, allocating, or taking the cache's write lock; a link asked for again soon
// enters. It is the admission filter of TinyLFU (Einziger, Friedman, Manes: "TinyLFU: A Highly
// Efficient Cache Admission Policy", 2017) on its own: two bits per link in a bitmap that is
// emptied every window misses, so it forgets at that pace. Safe for concurrent use; a bit lost to
// a race only delays an admission.
type doorkeeper struct {
	words  []atomic.Uint64
	mask   uint64 // of a bit index
	misses atomic.Uint64
	window uint64
}

func newDoorkeeper(window int) *doorkeeper {
	// At least 16 bits per link in the window: after a window of distinct links about 12% of the
	// bits are set, and a link seen for the first time passes for one seen before 1.4% of the time.
	bits := uint64(1 << 16)
	for bits < 16*uint64(window) {
		bits <<= 1
	}
	return &doorkeeper{words: make([]atomic.Uint64, bits/64), mask: bits - 1, window: uint64(window)}
}

// admit records a miss of the link whose code hashes to h and reports whether it was missed
// before within the window.
func (d *doorkeeper) admit(h uint64) bool {
	i, j := h&d.mask, (h>>32|h<<32)&d.mask
	wi, wj := &d.words[i/64], &d.words[j/64]
	bi, bj := uint64(1)<<(i%64), uint64(1)<<(j%64)
	seen := wi.Load()&bi != 0 && wj.Load()&bj != 0
	if !seen {
		wi.Or(bi)
		wj.Or(bj)
	}
	if d.misses.Add(1)%d.window == 0 {
		for k := range d.words {
			d.words[k].Store(0)
		}
	}
	return seen
}
