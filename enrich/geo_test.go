package enrich

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/internal/geotest"
)

var cityPlaces = []geotest.Place{
	{Network: "81.2.69.0/24", Country: "GB", Region: "ENG", RegionName: "England", City: "London"},
	{Network: "2001:db8:100::/48", Country: "DE", Region: "BE", RegionName: "Land Berlin", City: "Berlin"},
	{Network: "203.0.113.0/24", Country: "SG", RegionName: "Central Singapore"},
	{Network: "1.1.1.0/24", Country: "AU"},
}

func TestGeoLookups(t *testing.T) {
	dir := t.TempDir()
	city := filepath.Join(dir, "city.mmdb")
	geotest.Write(t, city, "GeoIP2-City", cityPlaces)
	g, err := OpenGeo(city, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for _, tc := range []struct {
		ip   string
		want Place
	}{
		{"81.2.69.142", Place{"GB", "ENG", "London"}},
		{"::ffff:81.2.69.142", Place{"GB", "ENG", "London"}}, // IPv4-mapped, as a dual-stack listener sees IPv4
		{"2001:db8:100:7::1", Place{"DE", "BE", "Berlin"}},
		{"203.0.113.9", Place{"SG", "Central Singapore", ""}}, // a subdivision without an ISO code: its name
		{"198.51.100.1", Place{}},                             // not in the file
		{"2001:db8:200::1", Place{}},
	} {
		if got := g.Lookup(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.ip, got, tc.want)
		}
	}
	if got := g.Lookup(netip.Addr{}); got != (Place{}) {
		t.Errorf("invalid address: %+v", got)
	}

	// A Country edition (and the DB-IP files) has no city: the country alone.
	country := filepath.Join(dir, "country.mmdb")
	geotest.Write(t, country, "DBIP-Country-Lite", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB"}, {Network: "1.1.1.0/24", Country: "AU"}})
	gc, err := OpenGeo(country, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := gc.Lookup(netip.MustParseAddr("81.2.69.1")); got != (Place{Country: "GB"}) {
		t.Errorf("country edition: %+v", got)
	}

	// No file: empty fields, and the server runs.
	none, err := OpenGeo("", nil)
	if err != nil || none.Lookup(netip.MustParseAddr("81.2.69.1")) != (Place{}) {
		t.Fatalf("no file: %v", err)
	}
	// A file that is not a MaxMind DB is refused with its name.
	bad := filepath.Join(dir, "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o644)
	if _, err := OpenGeo(bad, nil); err == nil {
		t.Fatal("a garbage file was accepted")
	}
}

func TestGeoReloadsWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, path, "GeoLite2-City", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB", City: "London"}})
	g, err := OpenGeo(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Watch(ctx, 20*time.Millisecond)
	ip := netip.MustParseAddr("81.2.69.9")
	if g.Lookup(ip).Country != "GB" {
		t.Fatal("first file not used")
	}
	time.Sleep(20 * time.Millisecond) // a different modification time
	geotest.Write(t, path, "GeoLite2-City", []geotest.Place{{Network: "81.2.69.0/24", Country: "IE", City: "Dublin"}})
	os.Chtimes(path, time.Now().Add(time.Second), time.Now().Add(time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for g.Lookup(ip).Country != "IE" {
		if time.Now().After(deadline) {
			t.Fatal("the new file was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A broken replacement is refused; the last good file stays.
	os.WriteFile(path, []byte("broken"), 0o644)
	os.Chtimes(path, time.Now().Add(2*time.Second), time.Now().Add(2*time.Second))
	time.Sleep(100 * time.Millisecond)
	if g.Lookup(ip).City != "Dublin" {
		t.Fatal("a broken file replaced the good one")
	}
}
