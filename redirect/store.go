package redirect

import (
	"context"
	"hash/maphash"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/firstclaim/firstclaim"
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
// link. An entry points only into the link set, so the cache adds no objects of its own for the
// garbage collector to trace beyond the LRU's nodes (288 bytes each).
type entry struct {
	partner, program, campaign string

	link  *Link
	prog  *program
	gen   uint64
	stamp uint64 // the cache's insertions when the entry last went to the front
	until int64  // Unix nanoseconds from which the link no longer redirects (see active)
	order uint32 // Link.order
	frag  uint32 // index of the fragment's '#' in the destination, or its length
	urlN  uint16 // length of the destination in text, when codeN > 0
	codeN uint8  // length of the code in text; 0 when text holds neither
	sep   byte   // '?' or '&': what comes before the first added parameter; 0 when none is needed
	text  [entryText]byte
}

// entryText is what is left of 224 bytes (the LRU's node is then 288) for a link's code and URL.
const entryText = 224 - 100

// code and url return the link's code and destination. From text, they are valid as long as e
// is: an entry copied out of the cache is read in place, never kept past the request.
func (e *entry) code() string {
	if e.codeN > 0 {
		return b2s(e.text[:e.codeN])
	}
	return e.link.Code
}

func (e *entry) url() string {
	if e.codeN > 0 {
		return b2s(e.text[e.codeN : int(e.codeN)+int(e.urlN)])
	}
	return e.link.URL
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

// linkSet is the links served: a base set (from Replace) and the links changed since (Apply), each
// with the generation that changed it. A cached entry of an older generation stays good unless its
// code changed after it was prepared, so a change of one link does not empty the cache.
type linkSet struct {
	gen   uint64 // of the newest change
	base  uint64 // of the base set: entries older than it are stale
	links map[string]*Link
	over  map[string]changed
}

type changed struct {
	link *Link
	gen  uint64
}

// find returns the link of code, or nil.
func (s *linkSet) find(code []byte) *Link {
	if c, ok := s.over[b2s(code)]; ok {
		return c.link
	}
	return s.links[b2s(code)]
}

// fresh reports whether an entry prepared at generation gen for code is still the link.
func (s *linkSet) fresh(code string, gen uint64) bool {
	if gen == s.gen {
		return true
	}
	if gen < s.base || gen > s.gen {
		return false
	}
	c, ok := s.over[code]
	return !ok || c.gen <= gen
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
	l.set.Store(&linkSet{links: map[string]*Link{}})
	return l, nil
}

// HasProgram reports whether links may name a program.
func (l *Links) HasProgram(name string) bool { return l.programs[name] != nil }

// Replace makes links the served set. It numbers the links in the order of the clicks table's key
// (partner, then code), for the clicks to carry to the sink (firstclaim.Click.Order).
func (l *Links) Replace(links []Link) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.replace(links)
}

// replace is Replace with l.mu held.
func (l *Links) replace(links []Link) {
	m := make(map[string]*Link, len(links))
	byKey := make([]*Link, len(links))
	for i := range links {
		m[links[i].Code] = &links[i]
		byKey[i] = &links[i]
	}
	slices.SortFunc(byKey, func(a, b *Link) int { return firstclaim.CompareLinks(a.PartnerID, a.Code, b.PartnerID, b.Code) })
	for i, k := range byKey {
		k.order = uint32(i + 1)
	}
	l.swapLocked(m, links)
}

func (l *Links) swapLocked(m map[string]*Link, links []Link) {
	old := l.set.Load()
	set := &linkSet{gen: old.gen + 1, base: old.gen + 1, links: m}
	// Warm the cache before the set is served (entries of the old generation are ignored on
	// lookup; purging frees them sooner).
	l.cache.Purge()
	for i := range min(len(links), l.size) {
		e := l.prepare(&links[i], set.gen)
		e.stamp = l.inserts.Add(1)
		l.cache.Add(maphash.String(l.seed, links[i].Code), e)
	}
	l.set.Store(set)
	l.count.Store(int64(len(m)))
}

// Apply serves changed links (new ones, or new versions of served ones) beside the others, without
// a full Replace: only the cached entries of the changed codes are dropped. Links are never
// removed, only disabled. When the changes since the last Replace grow past an eighth of the set,
// the set is rebuilt (as Replace does), which also numbers the new links in key order; until then
// a new link has no place in that order (Order 0) and the sink leaves the batches it is in for
// ClickHouse to sort.
func (l *Links) Apply(links []Link) {
	if len(links) == 0 {
		return
	}
	l.mu.Lock()
	old := l.set.Load()
	if len(old.over)+len(links) > max(4096, len(old.links)/8) {
		all := make(map[string]*Link, len(old.links)+len(links))
		for c, k := range old.links {
			all[c] = k
		}
		for c, k := range old.over {
			all[c] = k.link
		}
		for i := range links {
			all[links[i].Code] = &links[i]
		}
		merged := make([]Link, 0, len(all))
		for _, k := range all {
			merged = append(merged, *k)
		}
		compact(merged)
		l.replace(merged)
		l.mu.Unlock()
		return
	}
	defer l.mu.Unlock()
	set := &linkSet{gen: old.gen + 1, base: old.base, links: old.links, over: make(map[string]changed, len(old.over)+len(links))}
	for c, k := range old.over {
		set.over[c] = k
	}
	added := 0
	for i := range links {
		k := &links[i]
		prev := old.find([]byte(k.Code))
		if prev == nil {
			added++
		} else if prev.PartnerID == k.PartnerID {
			k.order = prev.order
		}
		set.over[k.Code] = changed{link: k, gen: set.gen}
	}
	l.set.Store(set)
	l.count.Add(int64(added))
	for i := range links {
		l.cache.Remove(maphash.String(l.seed, links[i].Code))
	}
	l.reloads.Inc()
}

// Each calls fn with every link served, in no order, until fn returns false.
func (l *Links) Each(fn func(*Link) bool) {
	set := l.set.Load()
	for c, k := range set.over {
		if !fn(k.link) {
			return
		}
		_ = c
	}
	for c, k := range set.links {
		if _, ok := set.over[c]; ok {
			continue
		}
		if !fn(k) {
			return
		}
	}
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
	link := set.find(code)
	if link == nil {
		return false
	}
	*e = l.prepare(link, set.gen)
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

// Bounds of the Unix nanoseconds an entry's until can hold.
var (
	minUnixNano = time.Unix(0, math.MinInt64)
	maxUnixNano = time.Unix(0, math.MaxInt64)
)

func (l *Links) prepare(link *Link, gen uint64) entry {
	e := entry{
		partner: link.PartnerID, program: link.Program, campaign: link.Campaign,
		link: link, prog: l.programs[link.Program], gen: gen, order: link.order, frag: uint32(len(link.URL)),
	}
	if n := len(link.Code) + len(link.URL); n <= entryText && len(link.Code) <= MaxCodeLen {
		e.codeN, e.urlN = uint8(len(link.Code)), uint16(len(link.URL))
		copy(e.text[copy(e.text[:], link.Code):], link.URL)
	}
	switch t := link.ExpiresAt; {
	case link.Status == StatusDisabled || t.Before(minUnixNano) && !t.IsZero(),
		e.prog == nil: // a program this edge is not configured for (links from ClickHouse): it cannot claim
		e.until = math.MinInt64
	case t.IsZero() || !t.Before(maxUnixNano):
		e.until = math.MaxInt64 // no time this side of 2262 is after it
	default:
		e.until = t.UnixNano()
	}
	if i := indexByteString(link.URL, '#'); i >= 0 {
		e.frag = uint32(i)
	}
	u := link.URL[:e.frag]
	switch q := indexByteString(u, '?'); {
	case q < 0:
		e.sep = '?'
	case q == len(u)-1 || u[len(u)-1] == '&':
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
