package enrich

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

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
	set := metrics.NewSet()
	g := OpenGeo(city, nil, set)
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
	// The file's build date is exported: mmdbwriter stamps the time it wrote the file.
	if age := time.Since(g.BuildTime()); age < 0 || age > time.Hour {
		t.Errorf("build time %v", g.BuildTime())
	}
	var b bytes.Buffer
	set.WritePrometheus(&b)
	if !strings.Contains(b.String(), "firstclaim_geo_database_build_timestamp_seconds 1") {
		t.Errorf("no build timestamp metric:\n%s", b.String())
	}

	// A Country edition (and the DB-IP files) has no city: the country alone.
	country := filepath.Join(dir, "country.mmdb")
	geotest.Write(t, country, "DBIP-Country-Lite", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB"}, {Network: "1.1.1.0/24", Country: "AU"}})
	if got := OpenGeo(country, nil, nil).Lookup(netip.MustParseAddr("81.2.69.1")); got != (Place{Country: "GB"}) {
		t.Errorf("country edition: %+v", got)
	}
	// The built-in database's layout: a top-level country_code.
	flat := filepath.Join(dir, "flat.mmdb")
	geotest.WriteCountryCodes(t, flat, []geotest.Place{{Network: "81.2.69.0/24", Country: "GB"}, {Network: "2001:db8:100::/48", Country: "DE"}})
	gf := OpenGeo(flat, nil, nil)
	if got := gf.Lookup(netip.MustParseAddr("81.2.69.1")); got != (Place{Country: "GB"}) {
		t.Errorf("country_code layout: %+v", got)
	}
	if got := gf.Lookup(netip.MustParseAddr("2001:db8:100::9")); got != (Place{Country: "DE"}) {
		t.Errorf("country_code layout, IPv6: %+v", got)
	}
}

// A missing or damaged file leaves the fields empty and says so in the log; nothing stops.
func TestMissingOrDamagedGeographyLeavesFieldsEmpty(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.mmdb")
	os.WriteFile(bad, []byte("not a database"), 0o644)
	for _, path := range []string{"", filepath.Join(dir, "missing.mmdb"), bad} {
		var logs bytes.Buffer
		g := OpenGeo(path, slog.New(slog.NewTextHandler(&logs, nil)), nil)
		if got := g.Lookup(netip.MustParseAddr("81.2.69.1")); got != (Place{}) || !g.BuildTime().IsZero() {
			t.Errorf("%q: %+v, built %v", path, got, g.BuildTime())
		}
		if path != "" && !strings.Contains(logs.String(), "geography database refused") {
			t.Errorf("%q: not logged: %s", path, logs.String())
		}
		e, err := NewEnricher(Options{Geo: g})
		if err != nil {
			t.Fatal(err)
		}
		_ = e
	}
}

// A database older than 90 days is loaded, with a warning.
func TestOldGeographyWarns(t *testing.T) {
	// The fetched built-in snapshot is from mid-2026; a file written now is fresh.
	path := filepath.Join(t.TempDir(), "fresh.mmdb")
	geotest.Write(t, path, "GeoLite2-Country", cityPlaces)
	var logs bytes.Buffer
	OpenGeo(path, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if strings.Contains(logs.String(), "more than 90 days old") || !strings.Contains(logs.String(), "geography database loaded") {
		t.Fatalf("a fresh file: %s", logs.String())
	}
	builtin := BuiltinGeoPath(os.Getenv)
	if builtin == "" {
		t.Skip("the built-in database is not installed (scripts/geo install; scripts/test does)")
	}
	logs.Reset()
	g := OpenGeo(builtin, slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if time.Since(g.BuildTime()) > StaleAfter && !strings.Contains(logs.String(), "more than 90 days old") {
		t.Fatalf("an old file without a warning: %s", logs.String())
	}
}

func TestGeoReloadsWhenTheFileChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, path, "GeoLite2-City", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB", City: "London"}})
	g := OpenGeo(path, nil, nil)
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
	// A file that appears later, where none could be read at start, is picked up.
	later := filepath.Join(t.TempDir(), "later.mmdb")
	gl := OpenGeo(later, nil, nil)
	go gl.Watch(ctx, 20*time.Millisecond)
	geotest.Write(t, later, "GeoLite2-Country", []geotest.Place{{Network: "81.2.69.0/24", Country: "GB"}})
	deadline = time.Now().Add(5 * time.Second)
	for gl.Lookup(ip).Country != "GB" {
		if time.Now().After(deadline) {
			t.Fatal("a file that appeared later was not picked up")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
