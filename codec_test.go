package firstclaim

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestClickRoundTrip(t *testing.T) {
	now := time.UnixMilli(1_790_000_123_456).UTC()
	for _, ip := range []string{"", "203.0.113.7", "2001:db8::1"} {
		c := Click{
			ID: NewIDString(now), TS: now, Link: "summer", PartnerID: "partner-a", Program: "affiliate", Campaign: "c",
			Outcome: OutcomeProtected, ClaimPartnerID: "partner-b", ClaimClickID: "x", ClaimExpiresAt: now.Add(time.Hour),
			Tampered: true, UserAgent: "Mozilla/5.0", Referer: "https://news.example/a", Visitor: 0xdeadbeef,
			Bot: false, NotNavigation: true, RateLimited: true, GPC: true, NetworkParam: "irclickid", NetworkClickID: "IR1",
			Order: 4242,
		}
		if ip != "" {
			c.IP = netip.MustParseAddr(ip)
		}
		var got, view Click
		if err := DecodeClick(AppendClick(nil, &c), &got); err != nil {
			t.Fatal(err)
		}
		if got != c {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
		if err := DecodeClickView(AppendClick(nil, &c), &view); err != nil || view != c {
			t.Fatalf("round trip without copies:\n got %+v (%v)\nwant %+v", view, err, c)
		}
	}
}

// DecodeClick's strings are the caller's to keep; DecodeClickView's are the record's bytes, and
// change with them.
func TestDecodeClickCopiesOrNot(t *testing.T) {
	c := Click{ID: "click-1", TS: time.UnixMilli(1_790_000_000_000), Link: "summer", UserAgent: "Mozilla/5.0"}
	rec := AppendClick(nil, &c)
	var kept, view Click
	if err := DecodeClick(rec, &kept); err != nil {
		t.Fatal(err)
	}
	if err := DecodeClickView(rec, &view); err != nil {
		t.Fatal(err)
	}
	copy(rec[7:], "CLICK-1") // the id's bytes, after kind, version, order and length
	if kept.ID != "click-1" {
		t.Errorf("DecodeClick's id changed with the record: %q", kept.ID)
	}
	if view.ID != "CLICK-1" {
		t.Errorf("DecodeClickView's id is a copy: %q", view.ID)
	}
}

// A click spooled by a release before Order (layout 1: no order after the header) still decodes,
// with Order 0.
func TestClickLayout1Decodes(t *testing.T) {
	now := time.UnixMilli(1_790_000_000_000).UTC()
	c := Click{ID: NewIDString(now), TS: now, Link: "summer", PartnerID: "p", Outcome: OutcomeClaimed, Order: 7}
	rec := AppendClick(nil, &c)
	if rec[1] != clickVersion {
		t.Fatalf("layout %d, want %d", rec[1], clickVersion)
	}
	old := append([]byte{RecordClick, 1}, rec[6:]...)
	var got Click
	if err := DecodeClick(old, &got); err != nil {
		t.Fatal(err)
	}
	c.Order = 0
	if got != c {
		t.Fatalf("layout 1:\n got %+v\nwant %+v", got, c)
	}
	if _, _, _, _, _, ok := ClickSortKey(old); ok {
		t.Fatal("a layout-1 click has a sort key")
	}
	if o, id, ms, link, partner, ok := ClickSortKey(rec); !ok || o != 7 || id != c.ID || ms != now.UnixMilli() || link != "summer" || partner != "p" {
		t.Fatalf("sort key: %d %s %d %s %s %v", o, id, ms, link, partner, ok)
	}
	if err := DecodeClick(append([]byte{RecordClick, 3}, rec[2:]...), &got); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown layout 3: %v", err)
	}
}

func TestAssociationAndImpressionRoundTrip(t *testing.T) {
	now := time.UnixMilli(1_790_000_000_000).UTC()
	a := Association{ID: "a", TS: now, Program: "p", AccountID: "acct", PartnerID: "pa", ClickID: "c", Link: "l", Kind: KindLogin, ClaimedAt: now.Add(-time.Hour), ClaimExpiresAt: now, Source: "pixel", NetworkClickID: "n"}
	var ga Association
	if err := DecodeAssociation(AppendAssociation(nil, &a), &ga); err != nil || ga != a {
		t.Fatalf("association: %+v %v", ga, err)
	}
	m := Impression{ID: "i", TS: now, Link: "l", PartnerID: "p", Program: "x", IP: netip.MustParseAddr("10.0.0.1"), Visitor: 7, Bot: true, Known: true}
	var gm Impression
	if err := DecodeImpression(AppendImpression(nil, &m), &gm); err != nil || gm != m {
		t.Fatalf("impression: %+v %v", gm, err)
	}
	// A record of one kind does not decode as another.
	if err := DecodeClick(AppendAssociation(nil, &a), &Click{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("kind mismatch: %v", err)
	}
}

func TestIDs(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	a, b := NewIDString(now), NewIDString(now.Add(time.Millisecond))
	if len(a) != IDLen || a[14] != '7' || !strings.ContainsRune("89ab", rune(a[19])) {
		t.Fatalf("not a UUIDv7: %s", a)
	}
	if a >= b || a == NewIDString(now) {
		t.Fatalf("ids do not sort by time or repeat: %s %s", a, b)
	}
	// Within a millisecond too, to a quarter of a microsecond.
	for _, d := range []time.Duration{250 * time.Nanosecond, 10 * time.Microsecond, 999 * time.Microsecond} {
		if c := NewIDString(now.Add(d)); c <= a || c >= b {
			t.Fatalf("id %v into the millisecond does not sort between its neighbours: %s %s %s", d, a, c, b)
		}
	}
}

func FuzzDecodeClick(f *testing.F) {
	c := Click{ID: "x", TS: time.UnixMilli(1), Link: "l", Outcome: OutcomeClaimed, IP: netip.MustParseAddr("::1")}
	f.Add(AppendClick(nil, &c))
	f.Add([]byte{RecordClick, 1, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, view Click
		err, verr := DecodeClick(b, &got), DecodeClickView(b, &view)
		if (err == nil) != (verr == nil) || view != got {
			t.Fatalf("with and without copies differ: %v, %v", err, verr)
		}
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes the same.
		var again Click
		if err := DecodeClick(AppendClick(nil, &got), &again); err != nil || again != got {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

func TestHostOf(t *testing.T) {
	for in, want := range map[string]string{
		"https://News.Example.com/a?b": "news.example.com", "http://u:p@h.example:8080/": "h.example",
		"https://[2001:db8::1]:443/x": "2001:db8::1", "android-app://com.slack": "com.slack", "": "", "not a url": "",
	} {
		if got := HostOf(in); got != want {
			t.Errorf("HostOf(%q) = %q, want %q", in, got, want)
		}
	}
}
