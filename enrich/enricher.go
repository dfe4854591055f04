package enrich

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/dchest/siphash"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// IP storage modes: how much of the visitor's address is kept in the click records.
const (
	IPFull     = "full"     // as received
	IPTruncate = "truncate" // the /24 of IPv4, the /48 of IPv6 (default)
	IPHash     = "hash"     // a keyed hash, its key changed every UTC day: counts repeat visits within a day, links nothing across days
	IPNone     = "none"     // nothing
)

// ParseIPMode checks an IP storage mode.
func ParseIPMode(s string) (string, error) {
	switch s {
	case IPFull, IPTruncate, IPHash, IPNone:
		return s, nil
	}
	return "", fmt.Errorf("IP mode %q: want full, truncate, hash or none", s)
}

// Options configure an Enricher.
type Options struct {
	Geo             *Geo     // nil: no geography
	Devices         *Devices // nil: a new cache
	IPMode          string   // default truncate
	HashKey         []byte   // secret of the hash mode's daily keys
	DuplicateWindow time.Duration
	Metrics         *metrics.Set
}

// Enricher fills the derived fields of a batch's clicks (sink.Enricher): the stored address after
// the privacy mode, the referring host, geography, device, and the duplicate flag (the same
// visitor on the same link inside DuplicateWindow, default 1 hour). It runs on the sink's worker,
// off the visitor's time. Duplicates are judged per redirector process; a restart forgets the
// clicks it saw.
type Enricher struct {
	opts Options
	geo  *Geo
	dev  *Devices

	mu    sync.Mutex
	seen  *recent                 // clicks
	seenI *recent                 // impressions
	addrs map[netip.Addr]addrInfo // what an address gives, for the repeat visitors; cleared when full
	day   int64
	k0    uint64
	k1    uint64

	geoFound, geoMissing, duplicates, impDups *metrics.Counter
}

// addrInfo is what an address gives: its place and its stored form (valid for one UTC day, for the
// hash mode's daily key).
type addrInfo struct {
	place  Place
	stored string
	day    int64
	gen    uint64 // of the geography file
}

const maxAddrs = 100_000

// maxRecent bounds each generation of the duplicate window's memory (visitor and link pairs):
// 32 bytes an entry and a map's overhead, about 50 MB for the two generations of clicks at most.
const maxRecent = 1_000_000

// recent remembers the last event of each visitor and link for about a duplicate window, in two
// generations of plain maps: lookups read the current one, then the previous; when the current
// one is a window old, or holds max keys, it becomes the previous and the oldest is dropped. Memory
// stays bounded under any load (at the cost of a shorter memory when a window brings more than max
// visitor-link pairs), and no lookup moves anything around, unlike an LRU.
//
// An entry is two words and holds no pointer (the garbage collector has nothing in the maps to
// scan): the key mixes the visitor's hash with the link's; the value is the event's time in Unix
// seconds beside 32 bits of a hash of its id (an event seen again, a replay, is not its own
// duplicate). About 40 bytes an entry with the maps' overhead: maxRecent entries a generation cost
// some 80 MB for the two, at most.
type recent struct {
	cur, prev map[uint64]uint64
	since     int64 // Unix seconds; 0 before the first event
	window    int64 // seconds
	max       int
	seed      maphash.Seed
}

func newRecent(window time.Duration, max int) *recent {
	return &recent{cur: map[uint64]uint64{}, prev: map[uint64]uint64{}, window: max64(int64(window/time.Second), 1), max: max,
		seed: maphash.MakeSeed()}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

func (r *recent) key(visitor uint64, link string) uint64 {
	return visitor ^ maphash.String(r.seed, link)*0x9e3779b97f4a7c15
}

// seen packs an event's time and id for a value.
func (r *recent) seen(ts time.Time, id string) uint64 {
	return uint64(uint32(ts.Unix()))<<32 | uint64(uint32(maphash.String(r.seed, id)))
}

func (r *recent) get(k uint64) (uint64, bool) {
	if v, ok := r.cur[k]; ok {
		return v, true
	}
	v, ok := r.prev[k]
	return v, ok
}

func (r *recent) add(k, v uint64) {
	sec := int64(v >> 32)
	if r.since == 0 {
		r.since = sec
	}
	if sec-r.since >= r.window || len(r.cur) >= r.max {
		// The older generation's map is emptied and reused: it keeps its buckets, so a steady
		// stream of events allocates nothing here once both maps have grown.
		clear(r.prev)
		r.prev, r.cur, r.since = r.cur, r.prev, sec
	}
	r.cur[k] = v
}

// NewEnricher returns an Enricher.
func NewEnricher(opts Options) (*Enricher, error) {
	if opts.IPMode == "" {
		opts.IPMode = IPTruncate
	}
	if _, err := ParseIPMode(opts.IPMode); err != nil {
		return nil, err
	}
	if opts.IPMode == IPHash && len(opts.HashKey) < 16 {
		return nil, fmt.Errorf("IP mode hash needs a key of 16 bytes or more")
	}
	if opts.DuplicateWindow <= 0 {
		opts.DuplicateWindow = time.Hour
	}
	if opts.Devices == nil {
		opts.Devices = NewDevices(0)
	}
	if opts.Geo == nil {
		opts.Geo = OpenGeo("", nil, nil)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	seen := newRecent(opts.DuplicateWindow, maxRecent)
	m := opts.Metrics
	return &Enricher{
		opts: opts, geo: opts.Geo, dev: opts.Devices, seen: seen, seenI: newRecent(opts.DuplicateWindow, maxRecent/4),
		day: -1, addrs: make(map[netip.Addr]addrInfo),
		geoFound:   m.NewCounter(`firstclaim_enrich_geo_total{result="found"}`),
		geoMissing: m.NewCounter(`firstclaim_enrich_geo_total{result="unknown"}`),
		duplicates: m.NewCounter("firstclaim_clicks_duplicate_total"),
		impDups:    m.NewCounter("firstclaim_impressions_duplicate_total"),
	}, nil
}

// Enrich implements sink.Enricher.
func (e *Enricher) Enrich(b *sink.Batch) {
	for i := range b.Clicks {
		c := &b.Clicks[i]
		c.RefererHost = firstclaim.HostOf(c.Referer)
		if c.IP.IsValid() {
			a := e.addr(c.IP, c.TS)
			c.StoredIP, c.Country, c.Region, c.City = a.stored, a.place.Country, a.place.Region, a.place.City
			if a.place.Country != "" {
				e.geoFound.Inc()
			} else {
				e.geoMissing.Inc()
			}
		}
		d := e.dev.Parse(c.UserAgent)
		c.DeviceType, c.OS, c.OSVersion, c.Browser, c.BrowserVersion = d.Type, d.OS, d.OSVersion, d.Browser, d.BrowserVersion
		if c.Link != "" && c.Outcome != firstclaim.OutcomeUnknownLink && e.duplicate(c) {
			c.Duplicate = true
			e.duplicates.Inc()
		}
	}
	for i := range b.Impressions {
		m := &b.Impressions[i]
		m.StoredIP = e.storeIP(m.IP, m.TS)
		if e.repeat(e.seenI, m.Visitor, m.Link, m.ID, m.TS) {
			m.Duplicate = true
			e.impDups.Inc()
		}
	}
}

// addr looks an address up once a day and remembers it.
func (e *Enricher) addr(ip netip.Addr, ts time.Time) addrInfo {
	day := ts.UTC().Unix() / 86400
	e.mu.Lock()
	a, ok := e.addrs[ip]
	e.mu.Unlock()
	gen := e.geo.Generation()
	if ok && a.day == day && a.gen == gen {
		return a
	}
	a = addrInfo{place: e.geo.Lookup(ip), stored: e.storeIP(ip, ts), day: day, gen: gen}
	e.mu.Lock()
	if len(e.addrs) >= maxAddrs {
		clear(e.addrs)
	}
	e.addrs[ip] = a
	e.mu.Unlock()
	return a
}

// duplicate reports whether the visitor clicked the link within the window before c. A click seen
// again (a batch replayed after a failed write) is not a duplicate of itself.
func (e *Enricher) duplicate(c *firstclaim.Click) bool {
	return e.repeat(e.seen, c.Visitor, c.Link, c.ID, c.TS)
}

// repeat reports whether the visitor had an event on the link within the window before this one
// (id, at), and remembers this one.
func (e *Enricher) repeat(r *recent, visitor uint64, link, eventID string, at time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := r.key(visitor, link)
	prev, ok := r.get(k)
	v := r.seen(at, eventID)
	if ok && uint32(prev) == uint32(v) {
		return false // this very event, seen again
	}
	if ok && v>>32 < prev>>32 {
		return false // an older event replayed late: judged when it was first seen
	}
	r.add(k, v)
	return ok && int64(v>>32-prev>>32) < r.window
}

// storeIP applies the IP storage mode.
func (e *Enricher) storeIP(ip netip.Addr, ts time.Time) string {
	if !ip.IsValid() {
		return ""
	}
	ip = ip.Unmap()
	switch e.opts.IPMode {
	case IPFull:
		return ip.String()
	case IPNone:
		return ""
	case IPHash:
		k0, k1 := e.dayKey(ts)
		b := ip.As16()
		return "h:" + strconv.FormatUint(siphash.Hash(k0, k1, b[:]), 16)
	}
	bits := 24
	if ip.Is6() {
		bits = 48
	}
	p, _ := ip.Prefix(bits)
	return p.Addr().String()
}

// dayKey is the hash mode's key for the UTC day of ts, derived from the secret: rotating daily,
// and the same on every redirector that shares the secret.
func (e *Enricher) dayKey(ts time.Time) (uint64, uint64) {
	day := ts.UTC().Unix() / 86400
	e.mu.Lock()
	defer e.mu.Unlock()
	if day != e.day {
		m := hmac.New(sha256.New, e.opts.HashKey)
		fmt.Fprintf(m, "firstclaim ip salt %d", day)
		sum := m.Sum(nil)
		e.k0, e.k1, e.day = binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16]), day
	}
	return e.k0, e.k1
}

var _ sink.Enricher = (*Enricher)(nil)
