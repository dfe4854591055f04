package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/firstclaim/firstclaim/internal/filewatch"
)

// Geo looks addresses up in a MaxMind DB file: MaxMind's GeoIP2 and GeoLite2 (City or Country),
// DB-IP's files in the same format, and files whose records give only a top-level country_code
// (ip-location-db's, the built-in database: BuiltinGeoPath). Watch reloads the file when it
// changes, without a pause in lookups. A file that is missing or cannot be read leaves the fields
// empty and is logged; the server serves regardless. Safe for concurrent use.
//
// The files are read through maxminddb directly rather than geoip2-golang's typed readers, which
// know only MaxMind's record layout: one lookup here reads both layouts.
type Geo struct {
	path  string
	stamp string // filewatch.Stamp of the file when it was last read
	db    atomic.Pointer[maxminddb.Reader]
	built atomic.Int64  // the loaded file's build time, Unix seconds; 0 when none
	gen   atomic.Uint64 // bumped on every load, so caches of lookups know to forget
	log   *slog.Logger
}

// Place is where an address is: an ISO 3166-1 country code, the first subdivision (its ISO code,
// else its English name) and the city's English name. Fields the file does not have are empty.
type Place struct {
	Country, Region, City string
}

// geoRecord reads both layouts: MaxMind's (country.iso_code, subdivisions, city) and a top-level
// country_code.
type geoRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	CountryCode  string `maxminddb:"country_code"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
		Names   struct {
			English string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names struct {
			English string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
}

// StaleAfter is how old a geography database may be before its loading is logged as a warning:
// registries move address blocks between countries every day.
const StaleAfter = 90 * 24 * time.Hour

// BuiltinGeoPath returns where scripts/geo puts the built-in database (and the Docker image has
// it), or "" when it is in none of those places: $FIRSTCLAIM_GEO_CACHE, ~/.cache/firstclaim/geo,
// /usr/share/firstclaim.
func BuiltinGeoPath(getenv func(string) string) string {
	const file = "geo-whois-asn-country.mmdb"
	var dirs []string
	if d := getenv("FIRSTCLAIM_GEO_CACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "firstclaim", "geo"))
	}
	dirs = append(dirs, "/usr/share/firstclaim")
	for _, d := range dirs {
		if p := filepath.Join(d, file); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// OpenGeo opens path; an empty path gives a Geo that knows nothing. A file that cannot be read is
// logged and leaves the Geo empty until Watch finds a good one there. set, when not nil, gets the
// firstclaim_geo_database_build_timestamp_seconds gauge.
func OpenGeo(path string, log *slog.Logger, set *metrics.Set) *Geo {
	if log == nil {
		log = slog.Default()
	}
	g := &Geo{path: path, log: log}
	if set != nil {
		set.NewGauge("firstclaim_geo_database_build_timestamp_seconds", func() float64 { return float64(g.built.Load()) })
	}
	if path == "" {
		return g
	}
	if err := g.load(); err != nil {
		log.Error("geography database refused: country, region and city stay empty until the file is good", "err", err)
	}
	return g
}

// Path is the file the Geo reads, or "".
func (g *Geo) Path() string { return g.path }

// BuildTime is when the loaded file was built, or the zero time.
func (g *Geo) BuildTime() time.Time {
	if s := g.built.Load(); s > 0 {
		return time.Unix(s, 0).UTC()
	}
	return time.Time{}
}

func (g *Geo) load() error {
	// Read into memory rather than mapped: a file replaced in place (not renamed over) must not
	// change under lookups in flight.
	g.stamp = filewatch.Stamp(g.path)
	data, err := os.ReadFile(g.path)
	if err != nil {
		return fmt.Errorf("cannot open geography database: %w", err)
	}
	db, err := maxminddb.OpenBytes(data)
	if err != nil {
		return fmt.Errorf("cannot open geography database %q: %w", g.path, err)
	}
	// A file of another kind (ASNs, say) has records of another shape: refuse it now rather than
	// leave every lookup empty.
	for _, probe := range []string{"1.1.1.1", "8.8.8.8", "2001:4860:4860::8888"} {
		var rec geoRecord
		if err := db.Lookup(netip.MustParseAddr(probe)).Decode(&rec); err != nil {
			db.Close()
			return fmt.Errorf("geography database %q (%s) has no country or city data: %w", g.path, db.Metadata.DatabaseType, err)
		}
	}
	defer g.gen.Add(1)
	built := db.Metadata.BuildTime().UTC()
	g.built.Store(built.Unix())
	if old := g.db.Swap(db); old != nil {
		// Lookups in flight may still use the old reader for a moment: close it a little later.
		time.AfterFunc(time.Minute, func() { old.Close() })
	}
	age := time.Since(built)
	attrs := []any{"file", g.path, "type", db.Metadata.DatabaseType, "built", built.Format(time.DateOnly), "age_days", int(age.Hours() / 24)}
	if age > StaleAfter {
		g.log.Warn("geography database is more than 90 days old: countries drift as registries move addresses; update it (README, \"Knowing the click\")", attrs...)
	} else {
		g.log.Info("geography database loaded", attrs...)
	}
	return nil
}

// Watch reloads the file when its size or modification time changes, until ctx ends. A file that
// cannot be read is logged once and the last good one stays in use.
func (g *Geo) Watch(ctx context.Context, interval time.Duration) {
	if g.path == "" {
		return
	}
	filewatch.PollSince(ctx, g.path, g.stamp, interval, func() {
		if err := g.load(); err != nil {
			g.log.Error("geography database refused; the previous one stays in use", "err", err)
		}
	})
}

// Lookup returns where ip is. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (g *Geo) Lookup(ip netip.Addr) Place {
	db := g.db.Load()
	if db == nil || !ip.IsValid() {
		return Place{}
	}
	var rec geoRecord
	res := db.Lookup(ip.Unmap())
	if !res.Found() || res.Decode(&rec) != nil {
		return Place{}
	}
	p := Place{Country: rec.Country.ISOCode, City: rec.City.Names.English}
	if p.Country == "" {
		p.Country = rec.CountryCode
	}
	if len(rec.Subdivisions) > 0 {
		p.Region = rec.Subdivisions[0].ISOCode
		if p.Region == "" {
			p.Region = rec.Subdivisions[0].Names.English
		}
	}
	return p
}

// Generation changes whenever a new file is loaded.
func (g *Geo) Generation() uint64 { return g.gen.Load() }

// Close releases the file.
func (g *Geo) Close() error {
	if db := g.db.Swap(nil); db != nil {
		return db.Close()
	}
	return nil
}
