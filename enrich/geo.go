package enrich

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/oschwald/geoip2-golang/v2"

	"github.com/firstclaim/firstclaim/internal/filewatch"
)

// Geo looks addresses up in a MaxMind DB file: GeoIP2 or GeoLite2, City or Country edition, and the
// DB-IP files in the same format. Watch reloads the file when it changes, without a pause in
// lookups. A Geo without a file answers empty fields. Safe for concurrent use.
type Geo struct {
	path string
	db   atomic.Pointer[geoip2.Reader]
	gen  atomic.Uint64 // bumped on every load, so caches of lookups know to forget
	log  *slog.Logger
}

// Place is where an address is: an ISO 3166-1 country code, the first subdivision (its ISO code,
// else its English name) and the city's English name. Fields the file does not have are empty.
type Place struct {
	Country, Region, City string
}

// OpenGeo opens path; an empty path gives a Geo that knows nothing.
func OpenGeo(path string, log *slog.Logger) (*Geo, error) {
	if log == nil {
		log = slog.Default()
	}
	g := &Geo{path: path, log: log}
	if path == "" {
		return g, nil
	}
	if err := g.load(); err != nil {
		return nil, err
	}
	return g, nil
}

func (g *Geo) load() error {
	// Read into memory rather than mapped: a file replaced in place (not renamed over) must not
	// change under lookups in flight.
	data, err := os.ReadFile(g.path)
	if err != nil {
		return fmt.Errorf("cannot open geography database: %w", err)
	}
	db, err := geoip2.OpenBytes(data)
	if err != nil {
		return fmt.Errorf("cannot open geography database %q: %w", g.path, err)
	}
	if _, err := db.City(netip.MustParseAddr("1.1.1.1")); err != nil {
		db.Close()
		return fmt.Errorf("geography database %q (%s) has no country or city data: %w", g.path, db.Metadata().DatabaseType, err)
	}
	defer g.gen.Add(1)
	if old := g.db.Swap(db); old != nil {
		// Lookups in flight may still use the old reader for a moment: close it a little later.
		time.AfterFunc(time.Minute, func() { old.Close() })
	}
	return nil
}

// Watch reloads the file when its size or modification time changes, until ctx ends. A file that
// cannot be read is logged once and the last good one stays in use.
func (g *Geo) Watch(ctx context.Context, interval time.Duration) {
	if g.path == "" {
		return
	}
	filewatch.Poll(ctx, g.path, interval, func() {
		if err := g.load(); err != nil {
			g.log.Error("geography database refused; the previous one stays in use", "err", err)
			return
		}
		g.log.Info("geography database reloaded", "file", g.path, "type", g.db.Load().Metadata().DatabaseType)
	})
}

// Lookup returns where ip is. IPv4-mapped IPv6 addresses are looked up as IPv4.
func (g *Geo) Lookup(ip netip.Addr) Place {
	db := g.db.Load()
	if db == nil || !ip.IsValid() {
		return Place{}
	}
	rec, err := db.City(ip.Unmap())
	if err != nil || rec == nil {
		return Place{}
	}
	p := Place{Country: rec.Country.ISOCode, City: rec.City.Names.English}
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
