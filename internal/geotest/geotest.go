// Package geotest builds small MaxMind DB files for tests, with github.com/maxmind/mmdbwriter.
package geotest

import (
	"net"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Place is one network of a test database and where it is.
type Place struct {
	Network                     string
	Country, Region, RegionName string
	City                        string
}

// WriteCountryCodes builds a file in ip-location-db's layout (the built-in database's): each
// record holds only a top-level country_code.
func WriteCountryCodes(t testing.TB, path string, places []Place) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "geo-whois-asn-country", RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range places {
		_, n, err := net.ParseCIDR(p.Network)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, mmdbtype.Map{"country_code": mmdbtype.String(p.Country)}); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, tree)
}

// Write builds a MaxMind DB file of the given type (GeoIP2-City, DBIP-Country-Lite, …), laid out
// like the real ones, and moves it into place atomically.
func Write(t testing.TB, path, dbType string, places []Place) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range places {
		_, n, err := net.ParseCIDR(p.Network)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{"country": mmdbtype.Map{"iso_code": mmdbtype.String(p.Country),
			"names": mmdbtype.Map{"en": mmdbtype.String(p.Country + " land")}}}
		if p.City != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.City)}}
		}
		if p.Region != "" || p.RegionName != "" {
			sub := mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.RegionName)}}
			if p.Region != "" {
				sub["iso_code"] = mmdbtype.String(p.Region)
			}
			rec["subdivisions"] = mmdbtype.Slice{sub}
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatal(err)
		}
	}
	write(t, path, tree)
}

func write(t testing.TB, path string, tree *mmdbwriter.Tree) {
	t.Helper()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil { // as a download tool would: never a half-written file
		t.Fatal(err)
	}
}
