package redirect

import (
	"fmt"
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
		links, err := ReadLinks(writeFile(t, dir, name, content), store.Programs())
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

// The cache keeps what is used: a link looked up again and again stays while hundreds of others
// pass through a cache of 8, and a link never looked up again is evicted. Hits move an entry to
// the front only once it has drifted a quarter of the cache back, so most hits do not write.
func TestLinkCacheKeepsWhatIsUsed(t *testing.T) {
	store, err := NewLinks(LinksOptions{Programs: testPrograms(), CacheSize: 8})
	if err != nil {
		t.Fatal(err)
	}
	var links []Link
	for i := 0; i < 500; i++ {
		links = append(links, Link{Code: fmt.Sprintf("c%d", i), URL: "https://m.example/", PartnerID: "p", Program: "affiliate"})
	}
	store.Replace(links)
	var e entry
	look := func(code string) (hit bool) {
		misses := store.misses.Get()
		if !store.lookup([]byte(code), &e) || e.link.Code != code {
			t.Fatalf("lookup %s: %+v", code, e)
		}
		return store.misses.Get() == misses
	}
	look("c0")
	look("c1")
	for i := 2; i < 500; i++ {
		if !look("c0") {
			t.Fatalf("c0, looked up before every other link, was evicted by the %dth", i)
		}
		look(fmt.Sprintf("c%d", i))
	}
	if look("c1") {
		t.Fatal("c1, never looked up again, is still cached after 498 others")
	}
	if hits, misses := store.hits.Get(), store.misses.Get(); hits != 498 || misses != 501 {
		t.Fatalf("hits %d, misses %d; want 498 and 501", hits, misses)
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
		if !store.lookup([]byte(code), &e) || e.link.order != want {
			t.Errorf("link %s: order %d, want %d", code, e.link.order, want)
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
	if c := h.rec.last(t); c.Link != "a1" || c.Order == 0 || c.Order != e.link.order {
		t.Fatalf("the click of link a1 carries order %d, want %d", c.Order, e.link.order)
	}
}

// BenchmarkLinkLookup looks up links spread evenly over 100,000, all in the cache, and reads what a
// redirect reads of each (is it active, its destination and partner): the lookups of a busy
// server, whose links' entries are mostly out of the CPU's caches.
func BenchmarkLinkLookup(b *testing.B) {
	const n = 100_000
	links := make([]Link, n)
	codes := make([][]byte, n)
	for i := range links {
		links[i] = Link{Code: fmt.Sprintf("l%06d", i), URL: "https://shop.example.com/p?x=1", PartnerID: "p", Program: "affiliate"}
		codes[i] = []byte(links[i].Code)
	}
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
			store.Replace(links)
			var e entry
			for _, c := range codes {
				store.lookup(c, &e)
			}
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !store.lookup(codes[order[i&(len(order)-1)]], &e) || !e.link.Active(now) || e.base()[0] != 'h' || e.link.PartnerID[0] != 'p' {
					b.Fatal("missing link")
				}
			}
		})
	}
}
