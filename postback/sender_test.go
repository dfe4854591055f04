package postback_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/postback"
)

// network is a local stand-in for an affiliate network: it records what it is sent, and answers as
// told (a status per attempt, or a delay).
type network struct {
	mu     sync.Mutex
	hits   []*http.Request
	answer func(n int, r *http.Request) int // n counts from 1
}

func (n *network) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	n.hits = append(n.hits, r)
	k := len(n.hits)
	n.mu.Unlock()
	w.WriteHeader(n.answer(k, r))
}

func (n *network) count() int { n.mu.Lock(); defer n.mu.Unlock(); return len(n.hits) }

func networks(t *testing.T, body string) []postback.Network {
	p := filepath.Join(t.TempDir(), "networks.json")
	os.WriteFile(p, []byte(body), 0o644)
	nets, err := postback.LoadNetworks(p)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

func line(ref, status string) attribution.Line {
	return attribution.Line{Program: "affiliate", PartnerID: "partner a&b", Line: "order", Ref: ref, AccountID: "acc 1",
		Status: status, Base: 123456, Commission: 1234, Rate: "0.01", Currency: "USD", ClickID: "click-1",
		NetworkClickID: "nc=1&x=ü y"}
}

func TestTemplatesFilledEscapedAndSigned(t *testing.T) {
	_, db := chtest.Database(t)
	net := &network{answer: func(int, *http.Request) int { return 200 }}
	srv := httptest.NewServer(net)
	defer srv.Close()
	nets := networks(t, `[{"name": "admitad", "programs": ["affiliate"], "secret": "network-secret-0123456789",
		"url": "`+srv.URL+`/pb?uid={network_click_id}&order={order_id}&amount={base}&payout={commission}&cur={currency}&st={status}&p={partner_id}&c={click_id}"}]`)
	res, err := (&postback.Sender{Store: db}).Send(context.Background(), nets, []attribution.Line{line("o 1/2", "pending")})
	if err != nil || res[0].Sent != 1 || net.count() != 1 {
		t.Fatalf("%+v %v hits %d", res, err, net.count())
	}
	r := net.hits[0]
	q := r.URL.Query()
	for k, want := range map[string]string{"uid": "nc=1&x=ü y", "order": "o 1/2", "amount": "1234.56", "payout": "12.34", "cur": "USD",
		"st": "pending", "p": "partner a&b", "c": "click-1"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q (query %s)", k, q.Get(k), want, r.URL.RawQuery)
		}
	}
	m := hmac.New(sha256.New, []byte("network-secret-0123456789"))
	m.Write([]byte(r.URL.RequestURI()))
	if got, want := r.Header.Get("X-Signature"), "sha256="+hex.EncodeToString(m.Sum(nil)); got != want {
		t.Errorf("signature %q, want %q", got, want)
	}
	// Signed in a parameter instead, for networks that want that.
	nets = networks(t, `[{"name": "rakuten", "programs": ["affiliate"], "secret": "network-secret-0123456789", "sign_param": "sig",
		"url": "`+srv.URL+`/p?id={network_click_id}"}]`)
	(&postback.Sender{Store: db}).Send(context.Background(), nets, []attribution.Line{line("o2", "pending")})
	r = net.hits[1]
	sig := r.URL.Query().Get("sig")
	unsigned := strings.TrimSuffix(r.URL.RequestURI(), "&sig="+sig)
	m = hmac.New(sha256.New, []byte("network-secret-0123456789"))
	m.Write([]byte(unsigned))
	if sig != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("param signature %q over %q", sig, unsigned)
	}
}

func TestRetriesOnlyWhatARetryCanFixAndRecordsEveryAttempt(t *testing.T) {
	_, db := chtest.Database(t)
	var slowOnce sync.Once
	net := &network{answer: func(n int, r *http.Request) int {
		switch r.URL.Query().Get("ref") {
		case "flaky": // 503, then a timeout, then fine
			if n == 1 {
				return 503
			}
			slow := false
			slowOnce.Do(func() { slow = true })
			if slow {
				time.Sleep(600 * time.Millisecond) // beyond the network's timeout
			}
			return 200
		case "refused":
			return 400
		}
		return 200
	}}
	srv := httptest.NewServer(net)
	defer srv.Close()
	nets := networks(t, `[{"name": "net", "programs": ["affiliate"], "timeout": "300ms", "max_attempts": 4,
		"url": "`+srv.URL+`/pb?ref={ref}&st={status}"}]`)
	s := &postback.Sender{Store: db, Workers: 1, MinBackoff: 10 * time.Millisecond}
	res, err := s.Send(context.Background(), nets, []attribution.Line{line("flaky", "approved"), line("refused", "approved")})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Sent != 1 || res[0].Failed != 1 || res[0].Attempts != 4 {
		t.Fatalf("result %+v: want flaky sent after 3 attempts, refused given up after 1", res[0])
	}
	for q, want := range map[string]uint64{
		"SELECT count() FROM postbacks WHERE ref = 'flaky'":                                    3,
		"SELECT countIf(ok = 1) FROM postbacks WHERE ref = 'flaky'":                            1,
		"SELECT count() FROM postbacks WHERE ref = 'refused' AND http_status = 400":            1,
		"SELECT countIf(error LIKE '%deadline%' OR error LIKE '%Timeout%') FROM postbacks":     1,
		"SELECT countIf(http_status = 503) FROM postbacks WHERE ref = 'flaky' AND attempt = 1": 1,
	} {
		if got := chtest.Count(t, db, q); got != want {
			t.Errorf("%s = %d, want %d", q, got, want)
		}
	} // The next run sends neither again: flaky was acknowledged, and the network refused the other
	// for good. A new status of the refused line is news.
	before := net.count()
	res, _ = s.Send(context.Background(), nets, []attribution.Line{line("flaky", "approved"), line("refused", "approved")})
	if net.count() != before || res[0].Known != 2 {
		t.Fatalf("second run: %d more requests, %+v", net.count()-before, res[0])
	}
	s.Send(context.Background(), nets, []attribution.Line{line("refused", "rejected")})
	if net.count() != before+1 {
		t.Fatalf("a refused line's new status was not sent: %d requests", net.count()-before)
	}
}

func TestEachLineAndStatusSentOnce(t *testing.T) {
	_, db := chtest.Database(t)
	net := &network{answer: func(int, *http.Request) int { return 204 }}
	srv := httptest.NewServer(net)
	defer srv.Close()
	nets := networks(t, `[{"name": "net", "programs": ["affiliate"], "url": "`+srv.URL+`/pb?ref={ref}&st={status}"}]`)
	s := &postback.Sender{Store: db}
	lines := []attribution.Line{line("a", "pending"), line("b", "pending"), line("c", "rejected")}
	noNetwork := line("d", "pending")
	noNetwork.NetworkClickID = "" // not from this network: nothing to report
	otherProgram := line("e", "pending")
	otherProgram.Program = "ambassador-2025"
	lines = append(lines, noNetwork, otherProgram)
	if _, err := s.Send(context.Background(), nets, lines); err != nil {
		t.Fatal(err)
	}
	if net.count() != 3 {
		t.Fatalf("first run: %d postbacks, want 3", net.count())
	}
	// The same run again: nothing new.
	res, _ := s.Send(context.Background(), nets, lines)
	if net.count() != 3 || res[0].Known != 3 || res[0].Due != 0 {
		t.Fatalf("re-run sent again: hits %d, %+v", net.count(), res[0])
	}
	// A later run: a moves to approved, so its approved status is news; b and c are not.
	lines[0].Status = "approved"
	s.Send(context.Background(), nets, lines)
	if net.count() != 4 || net.hits[3].URL.Query().Get("ref") != "a" || net.hits[3].URL.Query().Get("st") != "approved" {
		t.Fatalf("later run: %d hits", net.count())
	}
}

// A network that hangs costs the job its postback budget, no more; what was not sent goes next run.
func TestSlowNetworkBoundedByTheBudget(t *testing.T) {
	_, db := chtest.Database(t)
	release := make(chan struct{})
	net := &network{answer: func(int, *http.Request) int { <-release; return 200 }}
	srv := httptest.NewServer(net)
	defer srv.Close()
	defer close(release)
	nets := networks(t, `[{"name": "net", "programs": ["affiliate"], "timeout": "30s", "url": "`+srv.URL+`/pb?ref={ref}"}]`)
	var lines []attribution.Line
	for _, r := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		lines = append(lines, line(r, "pending"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	var res []postback.Result
	go func() { res, _ = (&postback.Sender{Store: db}).Send(ctx, nets, lines); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("a hanging network held the job beyond its budget")
	}
	if res[0].Sent != 0 || chtest.Count(t, db, "SELECT count() FROM postbacks WHERE ok = 0") == 0 {
		t.Fatalf("result %+v; the cut attempts must be recorded", res[0])
	}
}

func TestNetworksFileRefusesMistakes(t *testing.T) {
	for body, want := range map[string]string{
		`[{"name": "n", "programs": ["affiliate"], "url": "https://n.example/?a={amount}"}]`:                             "unknown placeholder {amount}",
		`[{"name": "n", "programs": ["affiliate"], "url": "javascript:alert(1)"}]`:                                       "want http or https",
		`[{"name": "n", "url": "https://n.example/"}]`:                                                                   "programs",
		`[{"name": "n", "programs": ["a"], "url": "https://n.example/", "statuses": ["paid"]}]`:                          `"paid" is not pending`,
		`[{"name": "n", "programs": ["a"], "url": "https://n.example/", "secret": "short"}]`:                             "16 bytes",
		`[{"name": "n", "programs": ["a"], "url": "https://n.example/", "timeout": "soon"}]`:                             "duration",
		`[{"name": "n", "programs": ["a"], "url": "https://n.example/", "retries": 3}]`:                                  `unknown field "retries"`,
		`[{"name": "n", "programs": ["a"], "url": "https://x/"}, {"name": "n", "programs": ["a"], "url": "https://x/"}]`: "defined twice",
		`[{"name": "n", "programs": ["a"], "url": "https://{network_click_id}.n.example/pb"}]`:                           "not the host or port",
		`[{"name": "n", "programs": ["a"], "url": "https://n.example:{ref}/pb"}]`:                                        "not the host or port",
		`[{"name": "n", "programs": ["a"], "url": "https://u{ref}@n.example/pb"}]`:                                       "not the host or port",
		`[{"name": "n", "programs": ["a"], "url": "https://n.example/pb#{ref}"}]`:                                        "not the fragment",
	} {
		p := filepath.Join(t.TempDir(), "n.json")
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := postback.LoadNetworks(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", body, err, want)
		}
	}
}

func TestMonthlyExport(t *testing.T) {
	_, db := chtest.Database(t)
	at := func(d int) time.Time { return time.Date(2026, 10, d, 12, 0, 0, 0, time.UTC) }
	lines := []attribution.Line{
		{Program: "affiliate", PartnerID: "pa", Line: "order", Ref: "o1", Status: "approved", Currency: "USD", Base: 10000, TS: at(3)},
		{Program: "affiliate", PartnerID: "pa", Line: "order", Ref: "o2", Status: "pending", Currency: "USD", Base: 2550, TS: at(30)},
		{Program: "affiliate", PartnerID: "pa", Line: "order", Ref: "o3", Status: "rejected", Reason: "renewal", Currency: "USD", Base: 999, TS: at(4)},
		{Program: "affiliate", PartnerID: "pa", Line: "lead", Ref: "acc1", Status: "approved", Currency: "USD", Base: 1, BaseCount: true, Commission: 700, TS: at(5)},
		{Program: "affiliate", PartnerID: "pb", Line: "lead", Ref: "acc2", Status: "pending", Currency: "USD", Base: 1, BaseCount: true, Commission: 700, TS: at(6)},
		{Program: "affiliate", PartnerID: "pb", Line: "order", Ref: "o4", Status: "approved", Currency: "USD", Base: 5000, TS: at(6).AddDate(0, 1, 0)}, // November
		{Program: "ambassador-2025", PartnerID: "pa", Line: "order", Ref: "o5", Status: "approved", Currency: "CNY", Base: 9999, TS: at(7)},
		// Attributed without the network: never on its statement.
		{Program: "affiliate", PartnerID: "pc", Line: "order", Ref: "o6", Status: "approved", Currency: "USD", Base: 7777, TS: at(8)},
	}
	for i := range lines[:len(lines)-1] {
		lines[i].NetworkClickID = "net-" + lines[i].Ref
	}
	if err := db.SaveLines(context.Background(), lines, at(31), at(31)); err != nil {
		t.Fatal(err)
	}
	nets := networks(t, `[{"name": "admitad", "programs": ["affiliate"], "url": "https://n.example/?x={ref}"}]`)
	rows, err := postback.Export(context.Background(), db, &nets[0], "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	want := []postback.ExportRow{{PartnerID: "pa", Currency: "USD", Orders: 2, Amount: 12550, Leads: 1, Commission: 700},
		{PartnerID: "pb", Currency: "USD", Orders: 0, Amount: 0, Leads: 1, Commission: 700}}
	if len(rows) != len(want) || rows[0] != want[0] || rows[1] != want[1] {
		t.Fatalf("export %+v, want %+v", rows, want)
	}
	if _, err := postback.Export(context.Background(), db, &nets[0], "October"); err == nil {
		t.Fatal("a bad month was accepted")
	}
}
