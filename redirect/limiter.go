package redirect

import (
	"hash/maphash"
	"net/netip"
	"sync/atomic"
	"time"
)

// claimLimiter counts claims per client address (per /64 for IPv6) in fixed windows, in a fixed table of counters
// indexed by a hash of the address: no allocation, no lock, bounded memory. Two addresses that
// share a slot share a budget; with 65,536 slots that is rare, and errs on the side of not claiming.
type claimLimiter struct {
	limit  uint64
	window int64 // seconds
	seed   maphash.Seed
	slots  []atomic.Uint64 // window number << 32 | count
}

const limiterSlots = 1 << 16

func newClaimLimiter(limit int, window time.Duration) *claimLimiter {
	if limit <= 0 || window <= 0 {
		return nil
	}
	w := int64(window / time.Second)
	if w < 1 {
		w = 1
	}
	return &claimLimiter{limit: uint64(limit), window: w, seed: maphash.MakeSeed(), slots: make([]atomic.Uint64, limiterSlots)}
}

// allow counts one claim for a and reports whether it is within the limit.
func (l *claimLimiter) allow(a netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	b := a.As16()
	if !a.Is4() {
		// An IPv6 subscriber holds a /64 (or more) and picks any address in it: counted as one.
		clear(b[8:])
	}
	slot := &l.slots[maphash.Bytes(l.seed, b[:])&(limiterSlots-1)]
	w := uint64(now.Unix()/l.window) & 0xffffffff
	for {
		old := slot.Load()
		n := old & 0xffffffff
		if old>>32 != w {
			n = 0
		}
		if n >= l.limit {
			return false
		}
		if slot.CompareAndSwap(old, w<<32|(n+1)) {
			return true
		}
	}
}
