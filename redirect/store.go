package redirect

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/firstclaim/firstclaim/internal/filewatch"
)

// Program is what the redirector needs of a referral program.
type Program struct {
	Name          string
	Window        time.Duration
	ClickParam    string
	FallbackURL   string
	NetworkParams []string

	cookieName string
}

// entry is a link prepared for the request path: where its destination's fragment starts (query
// parameters go before it) and its program. Entries live by value in the LRU and point only into
// the link set, so a cache of 100,000 links adds no objects of its own for the garbage collector
// to trace beyond the LRU's nodes.
type entry struct {
	link  *Link
	prog  *Program
	gen   uint64
	stamp uint64 // the cache's insertions when the entry last went to the front
	frag  int    // index of the fragment's '#' in link.URL, or len(link.URL)
	sep   byte   // '?' or '&': what comes before the first added parameter; 0 when none is needed
}

// base is the destination up to its fragment; fragment is "#..." or empty.
func (e *entry) base() string     { return e.link.URL[:e.frag] }
func (e *entry) fragment() string { return e.link.URL[e.frag:] }

// fallback is where an inactive link's visitors go, or "".
func (e *entry) fallback() string {
	if e.prog == nil {
		return ""
	}
	return e.prog.FallbackURL
}

type linkSet struct {
	gen   uint64
	links map[string]*Link
}

// Links serves link lookups for the request path: a snapshot of the links file behind an LRU of
// prepared entries, with negative caching of unknown codes so that a scan of made-up codes costs
// one cache probe each. Reload swaps the snapshot atomically: requests in flight finish on the old
// one, and none is dropped. Safe for concurrent use.
type Links struct {
	programs map[string]*Program
	set      atomic.Pointer[linkSet]
	cache    *lru.Cache[string, entry]
	negative *lru.Cache[string, uint64]
	inserts  atomic.Uint64 // entries added to cache
	drift    uint64        // insertions after which a hit moves an entry to the front
	mu       sync.Mutex    // serialises reloads
	log      *slog.Logger

	hits, misses, negHits *metrics.Counter
	reloads, reloadErrors *metrics.Counter
	count                 atomic.Int64
}

// LinksOptions configure a Links.
type LinksOptions struct {
	Programs  []Program
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
	progs := make(map[string]*Program, len(opts.Programs))
	for _, p := range opts.Programs {
		p := p
		if p.ClickParam == "" {
			p.ClickParam = "click_id"
		}
		p.cookieName = "fc_" + p.Name
		progs[p.Name] = &p
	}
	neg := opts.CacheSize / 4
	if neg < 1024 {
		neg = 1024
	}
	cache, err := lru.New[string, entry](opts.CacheSize)
	if err != nil {
		return nil, err
	}
	negative, err := lru.New[string, uint64](neg)
	if err != nil {
		return nil, err
	}
	l := &Links{
		programs: progs, cache: cache, negative: negative, log: opts.Logger, drift: uint64(opts.CacheSize / 4),
		hits:         opts.Metrics.NewCounter("firstclaim_link_cache_hits_total"),
		misses:       opts.Metrics.NewCounter("firstclaim_link_cache_misses_total"),
		negHits:      opts.Metrics.NewCounter("firstclaim_link_cache_negative_hits_total"),
		reloads:      opts.Metrics.NewCounter("firstclaim_links_reloads_total"),
		reloadErrors: opts.Metrics.NewCounter("firstclaim_links_reload_errors_total"),
	}
	opts.Metrics.NewGauge("firstclaim_links", func() float64 { return float64(l.count.Load()) })
	l.set.Store(&linkSet{links: map[string]*Link{}})
	return l, nil
}

// Programs returns the programs links may name.
func (l *Links) Programs() map[string]*Program { return l.programs }

// Replace makes links the served set. It numbers the links in the order of the clicks table's key
// (partner, then code), for the clicks to carry to the sink (firstclaim.Click.Order).
func (l *Links) Replace(links []Link) {
	m := make(map[string]*Link, len(links))
	byKey := make([]*Link, len(links))
	for i := range links {
		m[links[i].Code] = &links[i]
		byKey[i] = &links[i]
	}
	slices.SortFunc(byKey, func(a, b *Link) int {
		if c := strings.Compare(a.PartnerID, b.PartnerID); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	for i, k := range byKey {
		k.order = uint32(i + 1)
	}
	l.mu.Lock()
	old := l.set.Load()
	l.set.Store(&linkSet{gen: old.gen + 1, links: m})
	l.count.Store(int64(len(m)))
	l.mu.Unlock()
	// Entries of the old generation are ignored on lookup; purging just frees them sooner.
	l.cache.Purge()
	l.negative.Purge()
}

// Load reads path and, if every link in it is good, serves it. On error the last good set keeps
// serving.
func (l *Links) Load(path string) error {
	links, err := ReadLinks(path, l.programs)
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
	key := b2s(code)
	if c, ok := l.cache.Peek(key); ok && c.gen == set.gen {
		l.hits.Inc()
		if n := l.inserts.Load(); n-c.stamp > l.drift {
			c.stamp = n
			l.cache.Add(c.link.Code, c)
		}
		*e = c
		return true
	}
	if g, ok := l.negative.Get(key); ok && g == set.gen {
		l.negHits.Inc()
		return false
	}
	l.misses.Inc()
	link := set.links[key]
	if link == nil {
		l.negative.Add(string(code), set.gen)
		return false
	}
	*e = l.prepare(link, set.gen)
	e.stamp = l.inserts.Add(1)
	l.cache.Add(link.Code, *e)
	return true
}

func (l *Links) prepare(link *Link, gen uint64) entry {
	e := entry{link: link, prog: l.programs[link.Program], gen: gen, frag: len(link.URL)}
	if i := indexByteString(link.URL, '#'); i >= 0 {
		e.frag = i
	}
	u := e.base()
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
