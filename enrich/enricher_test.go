package enrich

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/internal/geotest"
	"github.com/firstclaim/firstclaim/sink"
)

func click(id string, ts time.Time, visitor uint64, link, ip string) firstclaim.Click {
	return firstclaim.Click{ID: id, TS: ts, Visitor: visitor, Link: link, IP: netip.MustParseAddr(ip),
		Outcome: firstclaim.OutcomeClaimed, Referer: "https://News.Example:443/a?b=c",
		UserAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"}
}

func TestIPModes(t *testing.T) {
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		mode, ip, want string
	}{
		{IPFull, "81.2.69.142", "81.2.69.142"},
		{IPFull, "::ffff:81.2.69.142", "81.2.69.142"},
		{IPTruncate, "81.2.69.142", "81.2.69.0"},
		{IPTruncate, "::ffff:81.2.69.142", "81.2.69.0"},
		{IPTruncate, "2001:db8:100:7::1", "2001:db8:100::"},
		{IPNone, "81.2.69.142", ""},
	} {
		e, err := NewEnricher(Options{IPMode: tc.mode})
		if err != nil {
			t.Fatal(err)
		}
		b := &sink.Batch{Clicks: []firstclaim.Click{click("c1", ts, 1, "l", tc.ip)},
			Impressions: []firstclaim.Impression{{ID: "i1", TS: ts, IP: netip.MustParseAddr(tc.ip)}}}
		e.Enrich(b)
		if b.Clicks[0].StoredIP != tc.want || b.Impressions[0].StoredIP != tc.want {
			t.Errorf("%s %s: click %q, impression %q; want %q", tc.mode, tc.ip, b.Clicks[0].StoredIP, b.Impressions[0].StoredIP, tc.want)
		}
	}
	// Hash: stable within a UTC day, different the next day, never the address.
	e, err := NewEnricher(Options{IPMode: IPHash, HashKey: []byte("0123456789abcdef0123")})
	if err != nil {
		t.Fatal(err)
	}
	h := func(ip string, at time.Time) string { return e.storeIP(netip.MustParseAddr(ip), at) }
	a, b2, next := h("81.2.69.142", ts), h("81.2.69.142", ts.Add(11*time.Hour)), h("81.2.69.142", ts.Add(13*time.Hour))
	if a != b2 || a == next || !strings.HasPrefix(a, "h:") || strings.Contains(a, "81.2") || a == h("81.2.69.143", ts) {
		t.Fatalf("hash mode: %s %s %s", a, b2, next)
	}
	if _, err := NewEnricher(Options{IPMode: IPHash}); err == nil {
		t.Fatal("hash mode without a key was accepted")
	}
	if _, err := NewEnricher(Options{IPMode: "partial"}); err == nil || !strings.Contains(err.Error(), `"partial"`) {
		t.Fatalf("bad mode: %v", err)
	}
}

func TestDuplicatesFlaggedNotDropped(t *testing.T) {
	set := metrics.NewSet()
	e, err := NewEnricher(Options{DuplicateWindow: time.Hour, Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &sink.Batch{Clicks: []firstclaim.Click{
		click("c1", t0, 7, "summer", "81.2.69.1"),                     // first
		click("c2", t0.Add(10*time.Minute), 7, "summer", "81.2.69.1"), // same visitor, same link, inside the hour
		click("c3", t0.Add(20*time.Minute), 7, "winter", "81.2.69.1"), // another link
		click("c4", t0.Add(20*time.Minute), 8, "summer", "81.2.69.2"), // another visitor
		click("c5", t0.Add(71*time.Minute), 7, "summer", "81.2.69.1"), // an hour after the last one
	}}
	e.Enrich(b)
	want := []bool{false, true, false, false, false}
	for i, c := range b.Clicks {
		if c.Duplicate != want[i] {
			t.Errorf("%s: duplicate = %v, want %v", c.ID, c.Duplicate, want[i])
		}
	}
	// A batch written again after a failure: a click is not a duplicate of itself.
	again := &sink.Batch{Clicks: []firstclaim.Click{b.Clicks[4]}}
	again.Clicks[0].Duplicate = false
	e.Enrich(again)
	if again.Clicks[0].Duplicate {
		t.Fatal("a replayed click was flagged as its own duplicate")
	}
	var out strings.Builder
	set.WritePrometheus(&out)
	if !strings.Contains(out.String(), "firstclaim_clicks_duplicate_total 1") {
		t.Fatalf("metrics:\n%s", out.String())
	}
	// Derived fields come with it.
	if c := b.Clicks[0]; c.RefererHost != "news.example" || c.DeviceType != "mobile" || c.OS != "iOS" || c.StoredIP != "81.2.69.0" {
		t.Fatalf("derived fields: %+v", c)
	}
}

// The worker's cost per click with geography, device, duplicates and truncation on.
func BenchmarkEnrich(b *testing.B) {
	path := b.TempDir() + "/city.mmdb"
	geotest.Write(b, path, "GeoIP2-City", cityPlaces)
	g := OpenGeo(path, nil, nil)
	e, _ := NewEnricher(Options{Geo: g})
	t0 := time.Now()
	batch := &sink.Batch{Clicks: make([]firstclaim.Click, 1000)}
	for i := range batch.Clicks {
		batch.Clicks[i] = click(firstclaim.NewIDString(t0), t0.Add(time.Duration(i)*time.Second), uint64(i%50), "summer", "81.2.69.142")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e.Enrich(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch.Clicks)), "ns/click")
}

// A new geography file is used at once, not after the cached places expire.
func TestEnricherFollowsANewGeographyFile(t *testing.T) {
	path := t.TempDir() + "/city.mmdb"
	geotest.Write(t, path, "GeoIP2-City", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB", City: "London"}})
	g := OpenGeo(path, nil, nil)
	e, _ := NewEnricher(Options{Geo: g})
	t0 := time.Now()
	b := &sink.Batch{Clicks: []firstclaim.Click{click("c1", t0, 1, "l", "81.2.69.1")}}
	e.Enrich(b)
	if b.Clicks[0].City != "London" {
		t.Fatalf("first file: %+v", b.Clicks[0])
	}
	geotest.Write(t, path, "GeoIP2-City", []geotest.Place{{Network: "81.2.69.0/24", Country: "IE", City: "Dublin"}})
	if err := g.load(); err != nil {
		t.Fatal(err)
	}
	b = &sink.Batch{Clicks: []firstclaim.Click{click("c2", t0.Add(time.Second), 1, "l", "81.2.69.1")}}
	e.Enrich(b)
	if b.Clicks[0].City != "Dublin" || b.Clicks[0].Country != "IE" {
		t.Fatalf("after the new file: %+v", b.Clicks[0])
	}
}

// The duplicate table keeps the current and the previous generation; a third turn forgets the
// oldest, whose map is then reused for the next.
func TestRecentKeepsTwoGenerations(t *testing.T) {
	r := newRecent(time.Hour, 2)
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	k := func(i int) uint64 { return r.key(uint64(i), "summer") }
	for i := 1; i <= 5; i++ { // 1,2 | 3,4 | 5: a new generation at 3 and at 5 (two per generation)
		r.add(k(i), r.seen(ts, fmt.Sprint(i)))
	}
	for i, want := range map[int]bool{1: false, 2: false, 3: true, 4: true, 5: true} {
		if v, ok := r.get(k(i)); ok != want || ok && v != r.seen(ts, fmt.Sprint(i)) {
			t.Errorf("visitor %d: found %v (%x), want %v", i, ok, v, want)
		}
	}
	if len(r.cur) != 1 || len(r.prev) != 2 {
		t.Fatalf("generations hold %d and %d entries, want 1 and 2", len(r.cur), len(r.prev))
	}
	// A window's age also starts a generation.
	r.add(k(6), r.seen(ts.Add(2*time.Hour), "6"))
	if _, ok := r.get(k(3)); ok || len(r.cur) != 1 {
		t.Fatal("a generation older than the window was kept")
	}
}

// Impressions carry the same duplicate flag as clicks: a thousand loads of a banner by one visitor
// in 30 ms are one impression and 999 duplicates; another visitor's, or another link's, is not a
// duplicate of them, and an impression replayed from the spool is not a duplicate of itself.
func TestImpressionDuplicates(t *testing.T) {
	e, err := NewEnricher(Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var b sink.Batch
	for i := 0; i < 1_000; i++ {
		b.Impressions = append(b.Impressions, firstclaim.Impression{ID: fmt.Sprintf("i%d", i), TS: ts.Add(time.Duration(i) * 30 * time.Microsecond),
			Link: "banner", Visitor: 7})
	}
	b.Impressions = append(b.Impressions,
		firstclaim.Impression{ID: "other-visitor", TS: ts, Link: "banner", Visitor: 8},
		firstclaim.Impression{ID: "other-link", TS: ts, Link: "sidebar", Visitor: 7})
	e.Enrich(&b)
	dups := 0
	for _, m := range b.Impressions {
		if m.Duplicate {
			dups++
		}
	}
	if dups != 999 || b.Impressions[0].Duplicate || b.Impressions[1000].Duplicate || b.Impressions[1001].Duplicate {
		t.Fatalf("%d duplicates of 1,002 impressions, want 999 (the first load, the other visitor and the other link count)", dups)
	}
	replay := sink.Batch{Impressions: []firstclaim.Impression{{ID: "i999", TS: ts.Add(999 * 30 * time.Microsecond), Link: "banner", Visitor: 7}}}
	e.Enrich(&replay)
	if replay.Impressions[0].Duplicate {
		t.Fatal("a replayed impression was taken for a duplicate of itself")
	}
	// After the window, the same visitor's impression counts again.
	later := sink.Batch{Impressions: []firstclaim.Impression{{ID: "later", TS: ts.Add(2 * time.Hour), Link: "banner", Visitor: 7}}}
	e.Enrich(&later)
	if later.Impressions[0].Duplicate {
		t.Fatal("an impression after the window was flagged")
	}
}
