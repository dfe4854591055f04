package redirect

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/cookie"
	"github.com/firstclaim/firstclaim/enrich"
)

// memRecorder keeps decoded clicks: the tests read what the redirector handed over.
type memRecorder struct {
	mu     sync.Mutex
	clicks []firstclaim.Click
	assocs []firstclaim.Association
	imps   []firstclaim.Impression
	codes  []firstclaim.UnknownCode
}

func (m *memRecorder) Record(rec []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch firstclaim.RecordKind(rec) {
	case firstclaim.RecordClick:
		var c firstclaim.Click
		if err := firstclaim.DecodeClick(rec, &c); err != nil {
			panic(err)
		}
		m.clicks = append(m.clicks, c)
	case firstclaim.RecordAssociation:
		var a firstclaim.Association
		if err := firstclaim.DecodeAssociation(rec, &a); err != nil {
			panic(err)
		}
		m.assocs = append(m.assocs, a)
	case firstclaim.RecordImpression:
		var i firstclaim.Impression
		if err := firstclaim.DecodeImpression(rec, &i); err != nil {
			panic(err)
		}
		m.imps = append(m.imps, i)
	case firstclaim.RecordUnknownCode:
		var u firstclaim.UnknownCode
		if err := firstclaim.DecodeUnknownCode(rec, &u); err != nil {
			panic(err)
		}
		m.codes = append(m.codes, u)
	default:
		panic(fmt.Sprintf("record of kind %d", firstclaim.RecordKind(rec)))
	}
}

func (m *memRecorder) last(t *testing.T) firstclaim.Click {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.clicks) == 0 {
		t.Fatal("no click recorded")
	}
	return m.clicks[len(m.clicks)-1]
}

func (m *memRecorder) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.clicks)
}

type discard struct{ n atomic.Int64 }

func (d *discard) Record([]byte) { d.n.Add(1) }

// clock is a settable time source.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock    { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) add(d time.Duration) { c.ns.Add(int64(d)) }

const testKeys = "k1:0123456789abcdef0123456789abcdef"

var testLinks = `code,url,partner,program,campaign,status,expires_at
a1,https://shop.example.com/landing?src=aff#top,partner-a,affiliate,summer,,
a2,https://shop.example.com/other,partner-a,affiliate,summer,,
b1,https://shop.example.com/,partner-b,affiliate,,,
amb,https://cloud.example.com/buy?,partner-c,ambassador-2025,,,
off,https://shop.example.com/off,partner-a,affiliate,,disabled,
old,https://shop.example.com/old,partner-a,affiliate,,,2020-01-01T00:00:00Z
fb,https://shop.example.com/fb,partner-a,with-fallback,,disabled,
net,https://shop.example.com/n,partner-n,networked,,,
`

func testPrograms() []attribution.Program {
	return []attribution.Program{
		{Name: "affiliate", WindowDays: 15, ClickParam: "click_id"},
		{Name: "ambassador-2025", WindowDays: 30, ClickParam: "ref_click"},
		{Name: "with-fallback", WindowDays: 30, ClickParam: "click_id", FallbackURL: "https://shop.example.com/sorry"},
		{Name: "networked", WindowDays: 30, ClickParam: "click_id", NetworkParams: []string{"irclickid", "admitad_uid"}},
	}
}

type harness struct {
	srv   *Server
	links *Links
	rec   *memRecorder
	clock *clock
	addr  string
	path  string
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func newHarness(t testing.TB, mod func(*Options)) *harness {
	t.Helper()
	set := metrics.NewSet()
	links, err := NewLinks(LinksOptions{Programs: testPrograms(), Metrics: set})
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, t.TempDir(), "links.csv", testLinks)
	if err := links.Load(path); err != nil {
		t.Fatal(err)
	}
	keys, _ := cookie.ParseKeys(testKeys)
	signer, _ := cookie.NewSigner(keys)
	h := &harness{links: links, rec: &memRecorder{}, clock: newClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), path: path}
	opts := Options{Links: links, Signer: signer, Recorder: h.rec, Bots: enrich.NewBots(0, nil), Now: h.clock.now, Metrics: set}
	if mod != nil {
		mod(&opts)
	}
	h.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.srv.Close)
	return h
}

// serve starts the handler on a real TCP listener.
func (h *harness) serve(t testing.TB) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h.srv.Handler}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown() })
	h.addr = "http://" + ln.Addr().String()
}

var client = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       5 * time.Second,
}

const browserUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

// get sends a request like a browser navigation unless headers say otherwise.
func (h *harness) get(t *testing.T, method, path string, headers map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, h.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("User-Agent", browserUA)
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func setCookies(resp *http.Response) []string { return resp.Header.Values("Set-Cookie") }

// cookieValue extracts name=value from a Set-Cookie header, for sending it back.
func cookieValue(setCookie string) string {
	v, _, _ := strings.Cut(setCookie, ";")
	return v
}

var netAddr = net.TCPAddr{IP: net.IPv4(198, 51, 100, 7), Port: 40000}

func osWrite(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
