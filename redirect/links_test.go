package redirect

import (
	"fmt"
	"github.com/firstclaim/firstclaim/attribution"
	"hash/maphash"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// Both file formats read to the same links, whose repeated names share one copy.
func TestReadLinksCompactsText(t *testing.T) {
	dir := t.TempDir()
	store, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	var csv, json strings.Builder
	csv.WriteString("code,url,partner,program,campaign,status,expires_at\n")
	json.WriteString("[")
	for i := 0; i < 50; i++ {
		status, expires := "", ""
		if i%10 == 3 {
			status, expires = "Disabled", "2026-12-31T23:59:59Z"
		}
		fmt.Fprintf(&csv, "c%d,https://m.example/p/%d?x=1#f,partner%d,affiliate,spring,%s,%s\n", i, i, i%3, status, expires)
		if i > 0 {
			json.WriteString(",\n")
		}
		fmt.Fprintf(&json, `{"code":"c%d","url":"https://m.example/p/%d?x=1#f","partner":"partner%d","program":"affiliate","campaign":"spring","status":"%s"`, i, i, i%3, status)
		if expires != "" {
			fmt.Fprintf(&json, `,"expires_at":"%s"`, expires)
		}
		json.WriteString("}")
	}
	json.WriteString("]")
	for name, content := range map[string]string{"links.csv": csv.String(), "links.json": json.String()} {
		links, err := ReadLinks(writeFile(t, dir, name, content), store.HasProgram)
		if err != nil {
			t.Fatal(name, err)
		}
		if len(links) != 50 {
			t.Fatalf("%s: %d links", name, len(links))
		}
		for i, l := range links {
			want := Link{Code: fmt.Sprintf("c%d", i), URL: fmt.Sprintf("https://m.example/p/%d?x=1#f", i),
				PartnerID: fmt.Sprintf("partner%d", i%3), Program: "affiliate", Campaign: "spring", Status: StatusActive}
			if i%10 == 3 {
				want.Status, want.ExpiresAt = StatusDisabled, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
			}
			if l != want {
				t.Errorf("%s line %d: %+v, want %+v", name, i+2, l, want)
			}
			if same := links[i%3]; unsafe.StringData(l.PartnerID) != unsafe.StringData(same.PartnerID) ||
				unsafe.StringData(l.Campaign) != unsafe.StringData(links[0].Campaign) {
				t.Errorf("%s line %d: partner or campaign not shared", name, i+2)
			}
		}
	}
}

// numberedLinks returns n links, c0 to c(n-1), of one partner and destination.
func numberedLinks(n int) []Link {
	links := make([]Link, n)
	for i := range links {
		links[i] = Link{Code: fmt.Sprintf("c%d", i), URL: "https://m.example/", PartnerID: "p", Program: "affiliate"}
	}
	return links
}

// The cache keeps what is used. In a full cache of 8, a link looked up again and again stays, a
// link looked up once passes without evicting anything (a crawler walking every code leaves the
// cache as it was), and a link looked up twice in a short while takes the place of the one used
// least recently. Hits move an entry to the front only once it has drifted a quarter of the cache
// back, so most hits do not write. The set's first 8 links are in the cache from the start.
func TestLinkCacheKeepsWhatIsUsed(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	store.Replace(numberedLinks(500))
	var e entry
	look := func(code string) (hit bool) {
		misses := store.misses.Get()
		if !store.lookup([]byte(code), &e) || e.code() != code {
			t.Fatalf("lookup %s: %+v", code, e)
		}
		return store.misses.Get() == misses
	}
	cached := func(code string) bool { _, ok := store.cache.Peek(maphash.String(store.seed, code)); return ok }
	// A crawl: c8…c499 once each, c0 in between. Nothing enters, nothing leaves.
	for i := 8; i < 500; i++ {
		if !look("c0") {
			t.Fatalf("c0 missed before c%d", i)
		}
		if look(fmt.Sprintf("c%d", i)) {
			t.Fatalf("c%d hit on its first lookup", i)
		}
	}
	for i := 0; i < 8; i++ {
		if !cached(fmt.Sprintf("c%d", i)) {
			t.Fatalf("c%d, in the cache from the start, was evicted by links looked up once", i)
		}
	}
	if hits, misses := store.hits.Get(), store.misses.Get(); hits != 492 || misses != 492 {
		t.Fatalf("hits %d, misses %d; want 492 and 492", hits, misses)
	}
	// Links wanted twice in a row enter on their second lookup and hit on the third; c0, used
	// between them, stays, and the links not used since the start leave, the oldest first.
	for i := 100; i < 107; i++ {
		code := fmt.Sprintf("c%d", i)
		look(code)
		if look(code) {
			t.Fatalf("%s hit before it entered the cache", code)
		}
		if !look(code) {
			t.Fatalf("%s, looked up twice in a row, did not enter the cache", code)
		}
		if !look("c0") {
			t.Fatalf("c0, looked up between them, was evicted by %s", code)
		}
	}
	for i := 1; i < 8; i++ {
		if cached(fmt.Sprintf("c%d", i)) {
			t.Errorf("c%d, not used since the start, is still cached after 7 links entered", i)
		}
	}
	if store.cache.Len() != 8 {
		t.Fatalf("the cache holds %d entries, want 8", store.cache.Len())
	}
}

// A new set is in the cache, up to its size, before it serves: after a reload the first lookups
// hit. Codes that are no link are not remembered, so a scan of made-up codes evicts nothing.
func TestLinkCacheWarmedOnReplace(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	links := numberedLinks(100)
	for round := 0; round < 2; round++ { // the first load and a reload
		store.Replace(slices.Clone(links))
		hits := store.hits.Get()
		for i := range links {
			var e entry
			if !store.lookup([]byte(links[i].Code), &e) || e.code() != links[i].Code {
				t.Fatalf("round %d: lookup %s: %+v", round, links[i].Code, e)
			}
		}
		if got := store.hits.Get() - hits; got != 100 {
			t.Fatalf("round %d: %d of 100 lookups hit just after the set was loaded", round, got)
		}
	}
	for i := 0; i < 1000; i++ {
		var e entry
		if store.lookup([]byte(fmt.Sprintf("made-up-%d", i)), &e) {
			t.Fatalf("made-up-%d found", i)
		}
	}
	if n := store.cache.Len(); n != 100 {
		t.Fatalf("the cache holds %d entries after a scan of made-up codes, want the 100 links", n)
	}
	misses := store.misses.Get()
	var e entry
	if !store.lookup([]byte("c7"), &e) || store.misses.Get() != misses {
		t.Fatal("a link was evicted by codes that are no link")
	}
}

// The cache is keyed by a hash of the code; a hit is confirmed against the code, so two codes
// with one hash never answer for each other.
func TestLinkCacheConfirmsTheCode(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	store.Replace([]Link{
		{Code: "a", URL: "https://a.example/", PartnerID: "pa", Program: "affiliate"},
		{Code: "b", URL: "https://b.example/", PartnerID: "pb", Program: "affiliate"},
	})
	// Put b's entry where a's hash points, as a collision would.
	var b entry
	if !store.lookup([]byte("b"), &b) {
		t.Fatal("b not found")
	}
	ha := maphash.String(store.seed, "a")
	store.cache.Add(ha, b)
	for i := 0; i < 2; i++ {
		var e entry
		if !store.lookup([]byte("a"), &e) || e.code() != "a" || e.base() != "https://a.example/" || e.partner != "pa" {
			t.Fatalf("lookup a with b's entry under its hash: %+v", e)
		}
	}
	if c, _ := store.cache.Peek(ha); c.code() != "b" {
		t.Fatalf("the slot holds %q; the code served around it should leave it alone", c.code())
	}
	var e entry
	if store.lookup([]byte("c"), &e) {
		t.Fatal("c found")
	}
}

// Links are numbered in the clicks table's key order (partner, then code), and a redirect's click
// carries its link's number, for the sink to put a batch in that order.
func TestLinksNumberedInKeyOrder(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms()})
	if err != nil {
		t.Fatal(err)
	}
	links := []Link{
		{Code: "b", URL: "https://m.example/", PartnerID: "PB", Program: "affiliate"},
		{Code: "a", URL: "https://m.example/", PartnerID: "PB", Program: "affiliate"},
		{Code: "z", URL: "https://m.example/", PartnerID: "PA", Program: "affiliate"},
	}
	store.Replace(links)
	var e entry
	for code, want := range map[string]uint32{"z": 1, "a": 2, "b": 3} {
		if !store.lookup([]byte(code), &e) || e.order != want {
			t.Errorf("link %s: order %d, want %d", code, e.order, want)
		}
	}
	h := newHarness(t, nil)
	ctx := &fasthttp.RequestCtx{}
	var req fasthttp.Request
	req.SetRequestURI("/r/a1")
	req.Header.Set("User-Agent", browserUA)
	ctx.Init(&req, &netAddr, nil)
	h.srv.Handler(ctx)
	if !h.links.lookup([]byte("a1"), &e) {
		t.Fatal("no link a1")
	}
	if c := h.rec.last(t); c.Link != "a1" || c.Order == 0 || c.Order != e.order {
		t.Fatalf("the click of link a1 carries order %d, want %d", c.Order, e.order)
	}
}

// BenchmarkLinkLookup looks up links spread evenly over 100,000, all in the cache, and reads what a
// redirect reads of each (is it active, its destination and partner): the lookups of a busy
// server, whose links' entries are mostly out of the CPU's caches.
func BenchmarkLinkLookup(b *testing.B) {
	const n = 100_000
	// Links as ReadLinks leaves them (code and URL side by side, names shared), each with its own
	// destination, looked up in a random order by a code in a buffer of the request's.
	links := make([]Link, n)
	codes := make([]string, n)
	for i := range links {
		links[i] = Link{Code: fmt.Sprintf("l%06d", i), URL: fmt.Sprintf("https://shop.example.com/p/%d?x=1", i),
			PartnerID: fmt.Sprintf("p%d", i%500), Program: "affiliate", Campaign: "spring", Status: StatusActive}
		codes[i] = links[i].Code
	}
	compact(links)
	order := make([]int, 1<<16)
	x := uint32(1)
	for i := range order {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		order[i] = int(x % n)
	}
	// All links cached, and a cache of a tenth of them (nine lookups in ten miss).
	for _, size := range []int{n, n / 10} {
		b.Run(fmt.Sprintf("cache=%d", size), func(b *testing.B) {
			store, _ := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: size})
			store.Replace(links) // fills the cache, up to its size
			var e entry
			now := time.Now()
			// The codes side by side (800 kB), as warm as a request's bytes are.
			var all []byte
			for _, c := range codes {
				all = append(all, c...)
			}
			stride := len(codes[0])
			req := make([]byte, 0, 64)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := order[i&(len(order)-1)] * stride
				req = append(req[:0], all[k:k+stride]...)
				if !store.lookup(req, &e) || !e.active(now) || e.base()[len(e.base())-1] != '1' || e.partner[0] != 'p' {
					b.Fatal("missing link")
				}
			}
		})
	}
}

// A prepared entry answers Active as its link does, at the edges of the expiry times a link may
// have (whole seconds, 1970 to 2106: CheckLink's).
func TestEntryActiveMatchesLink(t *testing.T) {
	store, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for _, l := range []Link{
		{Status: StatusActive},
		{Status: StatusDisabled},
		{Status: StatusDisabled, ExpiresAt: now.Add(time.Hour)},
		{Status: StatusActive, ExpiresAt: now},
		{Status: StatusActive, ExpiresAt: now.Add(time.Second)},
		{Status: StatusActive, ExpiresAt: now.Add(-time.Second)},
		{Status: StatusActive, ExpiresAt: time.Date(2106, 2, 7, 0, 0, 0, 0, time.UTC)},
		{Status: StatusActive, ExpiresAt: time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)},
	} {
		l.Code, l.URL, l.PartnerID, l.Program = "c", "https://m.example/", "p", "affiliate"
		if err := CheckLink(&l, store.HasProgram); err != nil {
			t.Fatal(err)
		}
		store.Replace([]Link{l})
		var e entry
		if !store.lookup([]byte("c"), &e) {
			t.Fatal("not found")
		}
		for _, at := range []time.Time{now, now.Add(-time.Nanosecond), now.Add(time.Nanosecond)} {
			if got, want := e.active(at), l.Active(at); got != want {
				t.Errorf("status %q, expires %v, at %v: entry says %v, link %v", l.Status, l.ExpiresAt, at, got, want)
			}
		}
	}
}

// A link's code and destination are held in its cache entry when they fit, and read from the link
// when they do not; either way the entry answers the same. The entry keeps the LRU's node at 288
// bytes.
func TestEntryHoldsShortLinks(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n != 224 {
		t.Fatalf("an entry is %d bytes, want 224", n)
	}
	store, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	long := "https://shop.example.com/" + strings.Repeat("x", entryText) + "?a=1#top"
	links := []Link{
		{Code: "short", URL: "https://s.example/p?a=1#f", PartnerID: "p", Program: "affiliate"},
		{Code: "long", URL: long, PartnerID: "p", Program: "affiliate"},
		{Code: "edge", URL: "https://e.example/" + strings.Repeat("y", entryText-len("edge")-len("https://e.example/")), PartnerID: "p", Program: "affiliate"},
	}
	store.Replace(links)
	for _, l := range links {
		var e entry
		if !store.lookup([]byte(l.Code), &e) {
			t.Fatalf("%s not found", l.Code)
		}
		inline := len(l.Code)+len(l.URL) <= entryText
		if (e.long == "") != inline || e.code() != l.Code || e.url() != l.URL || e.base()+e.fragment() != l.URL {
			t.Errorf("%s (%d bytes): inline %v, code %q, url %q", l.Code, len(l.Code)+len(l.URL), e.long == "", e.code(), e.url())
		}
	}
}

// The doorkeeper lets a link in on its second miss within a window of misses, and rarely on its
// first.
func TestDoorkeeper(t *testing.T) {
	const window = 1000
	d := newDoorkeeper(window)
	seed := maphash.MakeSeed()
	h := func(i int) uint64 { return maphash.String(seed, fmt.Sprintf("code%d", i)) }
	first := 0
	for i := 0; i < window-1; i++ { // one window's worth of distinct links, short of the turn
		if d.admit(h(i)) {
			first++
		}
	}
	if first > window/20 {
		t.Fatalf("%d of %d links admitted on their first miss", first, window-1)
	}
	if !d.admit(h(5)) {
		t.Fatal("a link missed again within the window was not admitted")
	}
	// That was the window's last miss: the doorkeeper forgets.
	again := 0
	for i := 0; i < 100; i++ {
		if d.admit(h(i)) {
			again++
		}
	}
	if again > 5 {
		t.Fatalf("%d of 100 links admitted after the window turned", again)
	}
}

// The redirector's program is the attribution program, with what the edge derives from it once.
func TestProgramFromAttribution(t *testing.T) {
	for name, p := range attribution.Presets() {
		rp := newProgram(p)
		if rp.Name != name || rp.window != p.Window() || rp.window != time.Duration(p.WindowDays)*24*time.Hour ||
			rp.cookieName != "fc_"+name || rp.ClickParam != p.ClickParam || rp.FallbackURL != p.FallbackURL {
			t.Errorf("%s: %+v", name, rp)
		}
	}
	if p := newProgram(attribution.Program{Name: "bare", WindowDays: 1}); p.ClickParam != "click_id" || p.window != 24*time.Hour {
		t.Errorf("defaults: %+v", p)
	}
}

// The JSON links file's line numbers come from one pass over the file, not one per link (a file of
// 100,000 links took 13 s to load when each link counted lines from the start).
func TestJSONLinkLinesCountedOnce(t *testing.T) {
	var b strings.Builder
	b.WriteString("[\n")
	for i := 0; i < 2_000; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, `{"code": "c%d", "url": "https://shop.example.com/p/%d", "partner": "p%d", "program": "affiliate"}`, i, i, i%7)
	}
	b.WriteString("\n]\n")
	data := []byte(b.String())
	links, lines, err := readLinksJSON(data)
	if err != nil || len(links) != 2_000 || lines[0] != 2 || lines[1999] != 2_001 {
		t.Fatalf("%d links, lines %d..%d, %v", len(links), lines[0], lines[len(lines)-1], err)
	}
	c := lineCounter{data: data}
	for off := int64(0); off < int64(len(data)); off += 97 {
		c.at(off)
	}
	if c.scanned > len(data) {
		t.Fatalf("scanned %d bytes of a %d-byte file", c.scanned, len(data))
	}
	// A bad link deep in the file is still named by its line.
	bad := strings.Replace(string(data), `"c1500"`, `"c 1500"`, 1)
	path := writeFile(t, t.TempDir(), "links.json", bad)
	if _, err := ReadLinks(path, func(string) bool { return true }); err == nil || !strings.Contains(err.Error(), "links.json:1502:") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkReadLinksJSON(b *testing.B) {
	var s strings.Builder
	s.WriteString("[")
	for i := 0; i < 100_000; i++ {
		if i > 0 {
			s.WriteString(",\n")
		}
		fmt.Fprintf(&s, `{"code": "c%d", "url": "https://shop.example.com/p/%d", "partner": "p%d", "program": "affiliate"}`, i, i, i%5000)
	}
	s.WriteString("]")
	path := writeFile(b, b.TempDir(), "links.json", s.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ReadLinks(path, func(string) bool { return true }); err != nil {
			b.Fatal(err)
		}
	}
}

// Apply serves changed and new links at once, drops only the changed codes' cached entries (the
// others keep hitting), and once the changes grow past an eighth of the set, rebuilds it whole.
func TestApplyChangesOnlyWhatChanged(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	links := numberedLinks(100)
	store.Replace(slices.Clone(links))
	look := func(code string) (entry, bool) {
		var e entry
		ok := store.lookup([]byte(code), &e)
		return e, ok
	}
	for i := range links { // warm
		look(links[i].Code)
	}
	changed := links[7]
	changed.URL = "https://shop.example.com/changed"
	disabled := links[8]
	disabled.Status = StatusDisabled
	fresh := Link{Code: "new-one", URL: "https://shop.example.com/new", PartnerID: "p9", Program: "affiliate", Status: StatusActive}
	store.Apply([]Link{changed, disabled, fresh}, nil)
	hits := store.hits.Get()
	for i := range links {
		e, ok := look(links[i].Code)
		switch {
		case !ok:
			t.Fatalf("%s lost", links[i].Code)
		case i == 7 && e.url() != "https://shop.example.com/changed":
			t.Fatalf("the changed link serves %s", e.url())
		case i == 8 && e.active(time.Now()):
			t.Fatal("the disabled link is active")
		case i != 7 && i != 8 && e.url() != links[i].URL:
			t.Fatalf("%s serves %s", links[i].Code, e.url())
		}
	}
	if got := store.hits.Get() - hits; got != 98 {
		t.Fatalf("%d of the 98 unchanged links hit the cache after Apply, want all", got)
	}
	if e, ok := look("new-one"); !ok || e.url() != "https://shop.example.com/new" || store.Len() != 101 {
		t.Fatalf("the new link: %v %+v, %d links", ok, e, store.Len())
	}
	// A second change of the same code, after its entry was cached again.
	changed.URL = "https://shop.example.com/changed-again"
	store.Apply([]Link{changed}, nil)
	if e, _ := look(changed.Code); e.url() != "https://shop.example.com/changed-again" {
		t.Fatalf("the twice-changed link serves %s", e.url())
	}
	// Many changes: the set is rebuilt, numbered in key order, and nothing is lost.
	var many []Link
	for i := range 5000 {
		many = append(many, Link{Code: fmt.Sprintf("bulk-%d", i), URL: "https://shop.example.com/b", PartnerID: "p1", Program: "affiliate", Status: StatusActive})
	}
	store.Apply(many, nil)
	if store.Len() != 5101 {
		t.Fatalf("%d links after a large Apply, want 5,101", store.Len())
	}
	if e, ok := look("bulk-4999"); !ok || e.order == 0 {
		t.Fatalf("after a rebuild a new link has no place in key order: %v %+v", ok, e.order)
	}
	if e, _ := look(changed.Code); e.url() != "https://shop.example.com/changed-again" {
		t.Fatalf("the rebuild lost a change: %s", e.url())
	}
	if e, _ := look(disabled.Code); e.active(time.Now()) {
		t.Fatal("the rebuild lost a disable")
	}
}

// The served links are packed: a link costs its text and a header, not objects of its own. Checked
// on the heap the store holds for 200,000 links of 8-character codes and ~80-byte destinations.
func TestLinksArePacked(t *testing.T) {
	const n = 200_000
	link := func(i int) Link {
		return Link{Code: fmt.Sprintf("c%07d", i), URL: fmt.Sprintf("https://shop.example.com/products/item-%09d?utm_source=aff&utm_campaign=c%d", i*7919, i%40),
			PartnerID: fmt.Sprintf("p%d", i%5000), Program: "affiliate", Campaign: fmt.Sprintf("c%d", i%40), Status: StatusActive}
	}
	store, _ := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 10})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	set := store.NewSet(0) // grows as links come, as from ClickHouse or a snapshot
	text := 0
	for i := range n {
		l := link(i)
		text += len(l.Code) + len(l.URL)
		set.Add(&l, nil)
	}
	store.Serve(set)
	set = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	perLink := (int(after.HeapAlloc) - int(before.HeapAlloc) - text) / n
	t.Logf("%d bytes a link beside its text", perLink)
	if perLink > recHeader+16+8 { // the header, the index (at most half full), and some slack
		t.Fatalf("a link costs %d bytes beside its text, want at most %d", perLink, recHeader+24)
	}
	// Every link is found, with its fields; a code given twice is served as given last.
	for _, i := range []int{0, 1, n / 2, n - 1} {
		code := fmt.Sprintf("c%07d", i)
		l, _, ok := store.Get(code)
		if !ok || l.PartnerID != fmt.Sprintf("p%d", i%5000) || l.Campaign != fmt.Sprintf("c%d", i%40) || l.order == 0 {
			t.Fatalf("%s: %+v %v", code, l, ok)
		}
	}
	store.Replace([]Link{{Code: "x", URL: "https://a.example/", PartnerID: "p", Program: "affiliate"}, {Code: "x", URL: "https://b.example/", PartnerID: "p", Program: "affiliate"}})
	if l, _, _ := store.Get("x"); l.URL != "https://b.example/" || store.Len() != 1 {
		t.Fatalf("a code given twice: %+v, %d links", l, store.Len())
	}
	seen := 0
	store.Each(func(Link, LinkMeta) bool { seen++; return true })
	if seen != 1 {
		t.Fatalf("Each visited %d links, want 1", seen)
	}
}

// A destination held without its scheme and host (shared among links) reads back whole, from the
// store and from a prepared entry, with its query and fragment found where they are.
func TestDestinationsWithoutTheirHost(t *testing.T) {
	store, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	urls := []string{
		"https://shop.example.com/a?x=1#top",
		"https://shop.example.com",
		"https://shop.example.com?only=query",
		"https://shop.example.com#frag",
		"https://shop.example.com/p?",
		"https://shop.example.com/p?a=1&",
		"http://other.example.net:8080/path",
		"https://shop.example.com/" + strings.Repeat("long", 40) + "?q=1#f", // stored whole
	}
	var links []Link
	for i, u := range urls {
		links = append(links, Link{Code: fmt.Sprintf("d%d", i), URL: u, PartnerID: "p", Program: "affiliate"})
	}
	store.Replace(links)
	for i, u := range urls {
		code := fmt.Sprintf("d%d", i)
		l, _, ok := store.Get(code)
		if !ok || l.URL != u {
			t.Fatalf("%s: stored %q, want %q", code, l.URL, u)
		}
		var e entry
		if !store.lookup([]byte(code), &e) || e.url() != u {
			t.Fatalf("%s: entry holds %q", code, e.url())
		}
		// The entry's base, fragment and separator are those of the whole destination.
		frag := strings.IndexByte(u, '#')
		if frag < 0 {
			frag = len(u)
		}
		base := u[:frag]
		sep := byte('&')
		switch q := strings.IndexByte(base, '?'); {
		case q < 0:
			sep = '?'
		case q == len(base)-1 || strings.HasSuffix(base, "&"):
			sep = 0
		}
		if e.base() != base || e.fragment() != u[frag:] || e.sep != sep {
			t.Errorf("%s: base %q fragment %q sep %q; want %q %q %q", u, e.base(), e.fragment(), e.sep, base, u[frag:], sep)
		}
	}
}
