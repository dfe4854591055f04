package redirect

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// An IPv6 subscriber can pick any address of its /64: the limit counts the /64 as one address.
// IPv4 addresses and other /64s keep budgets of their own.
func TestClaimLimiterCountsASlash64AsOne(t *testing.T) {
	l := newClaimLimiter(3, time.Minute)
	now := time.Unix(1_800_000_000, 0)
	allowed := 0
	for i := 0; i < 10; i++ {
		if l.allow(netip.MustParseAddr(fmt.Sprintf("2001:db8:1:2::%x", i+1)), now) {
			allowed++
		}
	}
	if allowed != 3 {
		t.Fatalf("%d claims allowed from one /64, want 3", allowed)
	}
	if !l.allow(netip.MustParseAddr("2001:db8:1:3::1"), now) {
		t.Fatal("the next /64 shares the budget")
	}
	for i := 0; i < 3; i++ {
		if !l.allow(netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", i+1)), now) {
			t.Fatal("IPv4 addresses of one /24 share a budget")
		}
	}
	if !l.allow(netip.MustParseAddr("2001:db8:1:2::1"), now.Add(time.Minute)) {
		t.Fatal("the /64's budget did not come back in the next window")
	}
}
