package clickgen

import (
	"testing"
	"time"
)

// Every click falls in its day, spread over all of it, however many there are (the spacing once
// overflowed past 106,751 clicks and wrapped clicks into the day before).
func TestBatchesStayInTheDay(t *testing.T) {
	day := time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)
	const n = 300_000
	first, last := day.Add(24*time.Hour), day
	count := 0
	for _, b := range Batches(n, 50_000, day, 1) {
		for _, c := range b.Clicks {
			count++
			if c.TS.Before(day) || !c.TS.Before(day.Add(24*time.Hour)) {
				t.Fatalf("click at %s, outside %s", c.TS, day.Format(time.DateOnly))
			}
			if c.TS.Before(first) {
				first = c.TS
			}
			if c.TS.After(last) {
				last = c.TS
			}
		}
	}
	if count != n || !first.Equal(day) || last.Before(day.Add(23*time.Hour)) {
		t.Fatalf("%d clicks from %s to %s; want %d over the whole day", count, first, last, n)
	}
}

// A day goes to as many links as asked, in batches made as they are read: a reader that stops
// early stops the making.
func TestDayLinksAndStop(t *testing.T) {
	d := Day{Clicks: 10_000, Batch: 1_000, Links: 7, Day: time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC), Seed: 3}
	links := map[string]bool{}
	batches := 0
	for b := range d.All() {
		if batches++; batches == 4 {
			break
		}
		if len(b.Clicks) != 1_000 {
			t.Fatalf("batch of %d clicks; want 1,000", len(b.Clicks))
		}
		for _, c := range b.Clicks {
			links[c.Link] = true
		}
	}
	if batches != 4 || len(links) != 7 {
		t.Fatalf("%d batches read, %d links; want 4 (stopped), 7", batches, len(links))
	}
}
