// Package clickgen makes clicks for the benchmarks: a day of them, spread evenly over the day, in the
// sink's batches (each sorted as the sink sorts), from 20,000 links (or as many as asked) of 500
// partners in three programs, with countries, devices, browsers, referers, bots and duplicates in
// plausible shares.
package clickgen

import (
	"iter"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// Batches returns n clicks of day in batches of batch, from 20,000 links; the same seed gives the
// same clicks (ids aside, which are new each time).
func Batches(n, batch int, day time.Time, seed uint64) []*sink.Batch {
	var out []*sink.Batch
	for b := range (Day{Clicks: n, Batch: batch, Day: day, Seed: seed}).All() {
		out = append(out, b)
	}
	return out
}

// Day describes a day of clicks.
type Day struct {
	Clicks int       // how many
	Batch  int       // clicks per batch
	Links  int       // how many links they go to; 0: 20,000
	Day    time.Time // the day (its start, UTC)
	Seed   uint64    // the same seed gives the same clicks, ids aside
}

// All makes the day's batches one at a time, as they are read: a day of tens of millions of
// clicks never sits in memory whole.
func (d Day) All() iter.Seq[*sink.Batch] {
	return d.each
}

func (d Day) each(yield func(*sink.Batch) bool) {
	n, batch, day, links := d.Clicks, d.Batch, d.Day, d.Links
	if links <= 0 {
		links = 20000
	}
	rng := rand.New(rand.NewPCG(d.Seed, 2))
	countries := []string{"US", "DE", "GB", "FR", "JP", "CN", "BR", "IN", ""}
	devices := []string{"desktop", "mobile", "mobile", "tablet", "bot"}
	browsers := []string{"Chrome", "Safari", "Firefox", "Edge", "Samsung Browser", "Facebook"}
	referers := []string{"news.example", "t.co", "www.google.com", ""}
	programs := []string{"affiliate", "ambassador-2025", "refer-a-friend"}
	for i := 0; i < n; i += batch {
		b := &sink.Batch{}
		for j := i; j < min(i+batch, n); j++ {
			link := rng.IntN(links)
			partner := link % 500
			// Spread evenly over the day (j * 24h in nanoseconds overflows past 106,751 clicks).
			ts := day.Add(time.Duration(float64(j) / float64(n) * float64(24*time.Hour)))
			c := firstclaim.Click{
				ID: firstclaim.NewIDString(ts), TS: ts, Link: "l" + strconv.Itoa(link), PartnerID: "p" + strconv.Itoa(partner),
				Program: programs[partner%3], Campaign: "c" + strconv.Itoa(partner%40), Outcome: firstclaim.Outcome(1 + rng.IntN(3)),
				UserAgent: "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + strconv.Itoa(100+rng.IntN(30)) + ".0 Mobile Safari/537.36",
				Visitor:   rng.Uint64N(3_000_000), Country: countries[rng.IntN(len(countries))], DeviceType: devices[rng.IntN(len(devices))],
				Browser: browsers[rng.IntN(len(browsers))], RefererHost: referers[rng.IntN(len(referers))], Duplicate: rng.IntN(20) == 0,
			}
			c.ClaimPartnerID, c.ClaimClickID, c.ClaimExpiresAt = c.PartnerID, c.ID, ts.Add(30*24*time.Hour)
			c.Bot = c.DeviceType == "bot"
			c.IP = netip.AddrFrom4([4]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256)), 1})
			c.StoredIP = c.IP.String()
			if c.RefererHost != "" {
				c.Referer = "https://" + c.RefererHost + "/a/" + strconv.Itoa(rng.IntN(1000))
			}
			b.Clicks = append(b.Clicks, c)
		}
		slices.SortFunc(b.Clicks, func(x, y firstclaim.Click) int {
			return strings.Compare(x.PartnerID+"\x00"+x.Link, y.PartnerID+"\x00"+y.Link)
		})
		if !yield(b) {
			return
		}
	}
}
