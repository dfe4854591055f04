package redirect

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/internal/filewatch"
)

// program is a referral program as the redirector uses it: the program (its name, claim window,
// click id parameter, fallback and network parameters) and what is derived from it once.
type program struct {
	attribution.Program
	window     time.Duration
	cookieName string
}

func newProgram(p attribution.Program) *program {
	if p.ClickParam == "" {
		p.ClickParam = "click_id"
	}
	return &program{Program: p, window: p.Window(), cookieName: p.CookieName()}
}

// entry is a link prepared for the request path: what a redirect reads of the link, copied out of
// it, where its destination's fragment starts (query parameters go before it), and its program.
// Entries live by value in the LRU, and a link's code and destination are copied into the entry
// when they fit in entryText bytes (most do): a hit then reads the LRU map's slot and the node,
// and nothing else that is not already in cache (the names are shared among links), two waits for
// memory where a pointer to the link and one to its text made four. Longer ones are read from the
// link set (long). An entry points only into the link set, so the cache adds no objects of its own
// for the garbage collector to trace beyond the LRU's nodes (288 bytes each).
type entry struct {
	partner, program, campaign string

	long  string // the code and the destination, in the link set, when text cannot hold them
	prog  *program
	gen   uint64
	stamp uint64 // the cache's insertions when the entry last went to the front
	until int64  // Unix nanoseconds from which the link no longer redirects (see active)
	order uint32 // Link.order
	frag  uint32 // index of the fragment's '#' in the destination, or its length
	urlN  uint16 // length of the destination
	codeN uint8  // length of the code
	sep   byte   // '?' or '&': what comes before the first added parameter; 0 when none is needed
	text  [entryText]byte
}

// entryText is what is left of 224 bytes (the LRU's node is then 288) for a link's code and URL.
const entryText = 224 - 108

// code and url return the link's code and destination. From text, they are valid as long as e
// is: an entry copied out of the cache is read in place, never kept past the request.
func (e *entry) code() string {
	if e.long != "" {
		return e.long[:e.codeN]
	}
	return b2s(e.text[:e.codeN])
}

func (e *entry) url() string {
	if e.long != "" {
		return e.long[e.codeN : int(e.codeN)+int(e.urlN)]
	}
	return b2s(e.text[e.codeN : int(e.codeN)+int(e.urlN)])
}

// base is the destination up to its fragment; fragment is "#..." or empty.
func (e *entry) base() string     { return e.url()[:e.frag] }
func (e *entry) fragment() string { return e.url()[e.frag:] }

// active is Link.Active for the prepared link.
func (e *entry) active(t time.Time) bool { return t.UnixNano() < e.until }

// fallback is where an inactive link's visitors go, or "".
func (e *entry) fallback() string {
	if e.prog == nil {
		return ""
	}
	return e.prog.FallbackURL
}

// linkSet is the links served: a base table (from Replace) and a small table of the links changed
// since (Apply), with the generation that changed each. A cached entry of an older generation stays
// good unless its code changed after it was prepared, so a change of one link does not empty the
// cache.
type linkSet struct {
	gen   uint64 // of the newest change
	base  uint64 // of the base table: entries older than it are stale
	links *table
	over  *table            // the changed links, newest of each code; nil when none
	when  map[string]uint64 // code (in over) -> generation of its change
	n     int               // links in all
}

// find returns the table and offset of code's link, or nil.
func (s *linkSet) find(code string) (*table, int) {
	if off := s.over.find(code); off >= 0 {
		return s.over, off
	}
	if off := s.links.find(code); off >= 0 {
		return s.links, off
	}
	return nil, -1
}

// fresh reports whether an entry prepared at generation gen for code is still the link.
func (s *linkSet) fresh(code string, gen uint64) bool {
	if gen == s.gen {
		return true
	}
	if gen < s.base || gen > s.gen {
		return false
	}
	c, ok := s.when[code]
	return !ok || c <= gen
}

// Links serves link lookups for the request path: a snapshot of the links file behind an LRU of
// prepared entries. Reload swaps the snapshot atomically and fills the cache from it, up to its
// size, before the first request sees it: requests in flight finish on the old one, none is
// dropped, and a restart or reload does not send a wave of misses through the request path. An
// unknown code costs one probe of the snapshot, which is in memory, and stores nothing (a scan of
// made-up codes allocates nothing and evicts no link). Once the cache is full, a missed link takes
// a place in it only if it was missed before not long ago (doorkeeper): one asked for once, by a
// crawler or in traffic spread wider than the cache, is served from the snapshot and evicts
// nothing. Safe for concurrent use.
//
// The LRU is keyed by a keyed 64-bit hash of the code, not the code: probing it then compares
// integers in the map's slots instead of following each candidate key to its bytes (a cache miss
// of its own), and evicting an entry does not read its code again. A hit is confirmed against the
// code in the entry; two codes with one hash share the slot and the one not in it is served from
// the snapshot.
type Links struct {
	programs map[string]*program
	set      atomic.Pointer[linkSet]
	cache    *lru.Cache[uint64, entry]
	seed     maphash.Seed
	inserts  atomic.Uint64 // entries added to cache
	drift    uint64        // insertions after which a hit moves an entry to the front
	size     int           // of the cache
	door     *doorkeeper   // admission to the cache when it is full
	mu       sync.Mutex    // serialises reloads
	log      *slog.Logger

	hits, misses          *metrics.Counter
	reloads, reloadErrors *metrics.Counter
	count                 atomic.Int64
}

// LinksOptions configure a Links.
type LinksOptions struct {
	Programs  []attribution.Program
	CacheSize int // prepared entries kept; default 100,000
	Metrics   *metrics.Set
	Logger    *slog.Logger
}

// NewLinks returns an empty link store for programs.
func NewLinks(opts LinksOptions) (*Links, error) {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 100_000
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	progs := make(map[string]*program, len(opts.Programs))
	for _, p := range opts.Programs {
		progs[p.Name] = newProgram(p)
	}
	cache, err := lru.New[uint64, entry](opts.CacheSize)
	if err != nil {
		return nil, err
	}
	l := &Links{
		programs: progs, cache: cache, seed: maphash.MakeSeed(), log: opts.Logger,
		drift: uint64(opts.CacheSize / 4), size: opts.CacheSize, door: newDoorkeeper(opts.CacheSize),
		hits:         opts.Metrics.NewCounter("firstclaim_link_cache_hits_total"),
		misses:       opts.Metrics.NewCounter("firstclaim_link_cache_misses_total"),
		reloads:      opts.Metrics.NewCounter("firstclaim_links_reloads_total"),
		reloadErrors: opts.Metrics.NewCounter("firstclaim_links_reload_errors_total"),
	}
	opts.Metrics.NewGauge("firstclaim_links", func() float64 { return float64(l.count.Load()) })
	l.set.Store(&linkSet{links: newTableBuilder(l.seed, 0).build(false)})
	return l, nil
}

// HasProgram reports whether links may name a program.
func (l *Links) HasProgram(name string) bool { return l.programs[name] != nil }

// Replace makes links the served set. It numbers the links in the order of the clicks table's key
// (partner, then code), for the clicks to carry to the sink (firstclaim.Click.Order).
func (l *Links) Replace(links []Link) {
	b := l.NewSet(len(links))
	for i := range links {
		b.Add(&links[i], nil)
	}
	l.Serve(b)
}

// SetBuilder gathers a link set to serve whole (Serve), a link at a time, without holding the
// links as objects on the way.
type SetBuilder struct{ b *tableBuilder }

// NewSet starts a set of about n links.
func (l *Links) NewSet(n int) *SetBuilder { return &SetBuilder{newTableBuilder(l.seed, n)} }

// Add adds a link and its version's meta (nil: none). A code added twice is served as added last.
func (s *SetBuilder) Add(link *Link, meta *LinkMeta) { s.b.add(link, meta) }

// Serve makes the set built the served set, as Replace does.
func (l *Links) Serve(s *SetBuilder) {
	t := s.b.build(true)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.serveLocked(t)
}

func (l *Links) serveLocked(t *table) {
	old := l.set.Load()
	set := &linkSet{gen: old.gen + 1, base: old.gen + 1, links: t, n: t.n}
	// Warm the cache before the set is served (entries of the old generation are ignored on
	// lookup; purging frees them sooner).
	l.cache.Purge()
	warm := 0
	t.each(func(off int) bool {
		e := l.prepare(t, off, set.gen)
		e.stamp = l.inserts.Add(1)
		l.cache.Add(maphash.String(l.seed, t.code(off)), e)
		warm++
		return warm < l.size
	})
	l.set.Store(set)
	l.count.Store(int64(set.n))
	if t.n >= 100_000 {
		// A large set was just read, through buffers and objects that are garbage now: give
		// the memory back, so the resident size is the set's, not the load's.
		debug.FreeOSMemory()
	}
}

// Apply serves changed links (new ones, or new versions of served ones) beside the others, without
// a full Replace: only the cached entries of the changed codes are dropped. Links are never
// removed, only disabled. metas, when not nil, are the links' versions' meta, one for each. When
// the changes since the last Replace grow past a sixty-fourth of the set (at least 4,096), the set
// is rebuilt whole, which also numbers the new links in key order; until then a new link has no
// place in that order (Order 0) and the sink leaves the batches it is in for ClickHouse to sort.
func (l *Links) Apply(links []Link, metas []LinkMeta) {
	if len(links) == 0 {
		return
	}
	meta := func(i int) *LinkMeta {
		if metas == nil {
			return nil
		}
		return &metas[i]
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.set.Load()
	overN := 0
	if old.over != nil {
		overN = old.over.n
	}
	if overN+len(links) > max(4096, old.links.n/64) {
		b := newTableBuilder(l.seed, old.n+len(links))
		b.copyNewest(old.links, old.over)
		for i := range links {
			b.add(&links[i], meta(i))
		}
		l.serveLocked(b.build(true))
		return
	}
	b := newTableBuilder(l.seed, overN+len(links))
	b.copyNewest(old.over, nil)
	set := &linkSet{gen: old.gen + 1, base: old.base, links: old.links, n: old.n, when: make(map[string]uint64, overN+len(links))}
	for i := range links {
		k := links[i]
		if t, off := old.find(k.Code); t == nil {
			set.n++
		} else if t.partner(off) == k.PartnerID {
			k.order = t.order(off) // its place in key order stays
		}
		b.add(&k, meta(i))
	}
	set.over = b.build(false)
	set.over.each(func(off int) bool {
		code := set.over.code(off)
		if g, ok := old.when[code]; ok {
			set.when[code] = g
		}
		return true
	})
	for i := range links {
		set.when[set.over.code(set.over.find(links[i].Code))] = set.gen
	}
	l.set.Store(set)
	l.count.Store(int64(set.n))
	for i := range links {
		l.cache.Remove(maphash.String(l.seed, links[i].Code))
	}
	l.reloads.Inc()
}

// copyNewest adds the links of base that over does not change, then those of over.
func (b *tableBuilder) copyNewest(base, over *table) {
	base.each(func(off int) bool {
		if over.find(base.code(off)) < 0 {
			l, m := base.link(off)
			b.add(&l, &m)
		}
		return true
	})
	over.each(func(off int) bool {
		l, m := over.link(off)
		b.add(&l, &m)
		return true
	})
}

// Get returns the link served for code and its version's meta.
func (l *Links) Get(code string) (Link, LinkMeta, bool) {
	t, off := l.set.Load().find(code)
	if t == nil {
		return Link{}, LinkMeta{}, false
	}
	link, meta := t.link(off)
	return link, meta, true
}

// Each calls fn with every link served and its meta, in no order, until fn returns false. The
// link's strings stay valid after fn returns.
func (l *Links) Each(fn func(Link, LinkMeta) bool) {
	set := l.set.Load()
	if !set.over.each(func(off int) bool { link, m := set.over.link(off); return fn(link, m) }) {
		return
	}
	set.links.each(func(off int) bool {
		if set.over.find(set.links.code(off)) >= 0 {
			return true
		}
		link, m := set.links.link(off)
		return fn(link, m)
	})
}

// Load reads path and, if every link in it is good, serves it. On error the last good set keeps
// serving.
func (l *Links) Load(path string) error {
	links, err := ReadLinks(path, l.HasProgram)
	if err != nil {
		l.reloadErrors.Inc()
		return err
	}
	l.Replace(links)
	l.reloads.Inc()
	return nil
}

// Len returns the number of links served.
func (l *Links) Len() int { return int(l.count.Load()) }

// Watch reloads path whenever its size or modification time changes, checking every interval,
// until ctx ends. A bad file is logged with its line and reason, and the last good set stays.
func (l *Links) Watch(ctx context.Context, path string, interval time.Duration) {
	filewatch.Poll(ctx, path, interval, func() {
		if err := l.Load(path); err != nil {
			l.log.Error("links file refused; the last good set keeps serving", "err", err)
			return
		}
		l.log.Info("links reloaded", "file", path, "links", l.Len())
	})
}

// lookup finds the prepared entry for code and reports whether there is such a link. code is
// only read, never kept. A warm hit does not allocate.
//
// A hit reads the entry without moving it to the front of the LRU, unless more than a quarter of
// the cache's size has been inserted since it was last there: moving it on every hit took a write
// lock and rewrote list pointers in three random places of a large heap (a third of the lookup's
// cost, on every request). An entry in use is still moved forward long before it can reach the
// back; one that is not used falls back and out as before.
func (l *Links) lookup(code []byte, e *entry) bool {
	set := l.set.Load()
	h := maphash.Bytes(l.seed, code)
	var ok bool
	*e, ok = l.cache.Peek(h)
	if ok && e.code() == b2s(code) && set.fresh(b2s(code), e.gen) {
		l.hits.Inc()
		if n := l.inserts.Load(); n-e.stamp > l.drift {
			e.stamp = n
			l.cache.Add(h, *e)
		}
		return true
	}
	taken := ok && e.code() != b2s(code) && set.fresh(e.code(), e.gen) // another code with the same hash holds the slot
	l.misses.Inc()
	t, off := set.find(b2s(code))
	if t == nil {
		return false
	}
	*e = l.prepare(t, off, set.gen)
	if taken {
		return true // served uncached
	}
	if !ok && l.cache.Len() >= l.size && !l.door.admit(h) {
		return true // first asked for in a while: served without taking a place in the cache
	}
	e.stamp = l.inserts.Add(1)
	l.cache.Add(h, *e)
	return true
}

func (l *Links) prepare(t *table, off int, gen uint64) entry {
	code, program := t.code(off), t.program(off)
	host, rest := t.urlParts(off) // host is empty for a destination stored whole
	n := len(host) + len(rest)
	e := entry{
		partner: t.partner(off), program: program, campaign: t.campaign(off),
		prog: l.programs[program], gen: gen, order: t.order(off), frag: uint32(n),
		codeN: uint8(len(code)), urlN: uint16(n),
	}
	if len(code)+n <= entryText {
		k := copy(e.text[:], code)
		k += copy(e.text[k:], host)
		copy(e.text[k:], rest)
	} else {
		e.long = t.text(off) // a long destination is stored whole
	}
	switch exp := t.expires(off); {
	case t.disabled(off),
		e.prog == nil: // a program this edge is not configured for (links from ClickHouse): it cannot claim
		e.until = math.MinInt64
	case exp.IsZero():
		e.until = math.MaxInt64 // never (a table's expiries end in 2106, well inside int64 nanoseconds)
	default:
		e.until = exp.UnixNano()
	}
	// The fragment and the query are in rest: host holds none of '/', '?', '#'.
	if i := indexByteString(rest, '#'); i >= 0 {
		e.frag = uint32(len(host) + i)
	}
	u := rest[:int(e.frag)-len(host)]
	last := byte(0)
	switch {
	case len(u) > 0:
		last = u[len(u)-1]
	case len(host) > 0:
		last = host[len(host)-1]
	}
	switch q := indexByteString(u, '?'); {
	case q < 0:
		e.sep = '?'
	case q == len(u)-1 || last == '&':
		e.sep = 0
	default:
		e.sep = '&'
	}
	return e
}

func indexByteString(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
