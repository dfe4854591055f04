package enrich

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/firstclaim/firstclaim/internal/geotest"
)

// KnownPlaces are addresses whose country the built-in database (and the registries) agree on;
// the demo's sample visits come from them.
var knownPlaces = map[string]string{
	"8.8.8.8": "US", "2001:4860:4860::8888": "US", "81.2.69.142": "GB", "5.9.0.1": "DE", "2a01:4f8::1": "DE",
	"133.242.0.1": "JP", "202.12.27.33": "JP", "200.160.2.3": "BR", "2001:12ff::1": "BR", "195.154.0.1": "FR",
	"91.198.174.192": "NL", "1.1.1.1": "AU", "41.0.0.1": "ZA", "190.210.0.1": "AR", "114.114.114.114": "CN",
}

// The built-in database (scripts/geo install; scripts/test installs it) knows the countries of
// well-known addresses, IPv4 and IPv6; a MaxMind-layout file holding the same answers gives the
// same places through the same reader.
func TestBuiltinGeographyKnowsCountries(t *testing.T) {
	path := BuiltinGeoPath(os.Getenv)
	if path == "" {
		if testing.Short() {
			t.Skip("-short: the built-in geography database is not installed")
		}
		t.Fatal("the built-in geography database is not installed: run scripts/geo install (scripts/test does)")
	}
	builtin := OpenGeo(path, nil, nil)
	if builtin.BuildTime().IsZero() {
		t.Fatalf("%s did not load", path)
	}
	var places []geotest.Place
	for ip, want := range knownPlaces {
		if got := builtin.Lookup(netip.MustParseAddr(ip)); got.Country != want {
			t.Errorf("built-in: %s is in %q, want %s", ip, got.Country, want)
		}
		bits := 32
		if netip.MustParseAddr(ip).Is6() {
			bits = 128
		}
		places = append(places, geotest.Place{Network: netip.PrefixFrom(netip.MustParseAddr(ip), bits).String(), Country: want})
	}
	mm := filepath.Join(t.TempDir(), "GeoLite2-Country.mmdb")
	geotest.Write(t, mm, "GeoLite2-Country", places)
	g := OpenGeo(mm, nil, nil)
	for ip, want := range knownPlaces {
		if got := g.Lookup(netip.MustParseAddr(ip)); got.Country != want {
			t.Errorf("MaxMind layout: %s is in %q, want %s", ip, got.Country, want)
		}
	}
}
