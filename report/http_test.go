package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/internal/browsertest"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

const (
	adminToken = "admin-token-0123456789"
	paToken    = "partner-a-token-0123456789"
)

// server serves the seed data's reports, its days rolled up.
func server(t *testing.T) *httptest.Server {
	_, db := chtest.Database(t)
	seed(t, db)
	if n, err := db.RollPending(context.Background(), nil, nil); err != nil || n == 0 {
		t.Fatalf("rolled up %d days: %v", n, err)
	}
	srv := httptest.NewServer(report.Handler(db, report.Access{Admin: adminToken, Partners: map[string]string{paToken: "PA"}}, report.Page{Geography: "test countries (CC BY 4.0)"}, nil))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Visitors read from rollups are an estimate, and every form of the answer says so; asked for
// exact visitors, none is.
func TestAPIMarksEstimates(t *testing.T) {
	srv := server(t)
	base := srv.URL + "/api/v1/reports?from=2026-11-10&to=2026-11-13&by=partner"
	var doc struct {
		Estimates map[string]struct {
			Error      float64 `json:"error"`
			Confidence float64 `json:"confidence"`
			Method     string  `json:"method"`
		} `json:"estimates"`
		Totals map[string]any `json:"totals"`
	}
	code, body := get(t, base, adminToken)
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil {
		t.Fatalf("%d %v %s", code, err, body)
	}
	if e := doc.Estimates["visitors"]; e.Error != 0.05 || e.Confidence != 0.997 || !strings.Contains(e.Method, "HyperLogLog") || len(doc.Estimates) != 1 {
		t.Fatalf("estimates: %+v", doc.Estimates)
	}
	if _, csv := get(t, base+"&format=csv", adminToken); !strings.HasPrefix(csv, "partner,clicks,visitors (estimate ±5%),claims") {
		t.Fatalf("csv header: %s", strings.SplitN(csv, "\n", 2)[0])
	}
	doc.Estimates = nil
	code, body = get(t, base+"&exact_visitors=1", adminToken)
	if err := json.Unmarshal([]byte(body), &doc); code != 200 || err != nil || len(doc.Estimates) != 0 || doc.Totals["visitors"].(float64) != 4 {
		t.Fatalf("exact visitors: %d %v %+v %v", code, err, doc.Estimates, doc.Totals["visitors"])
	}
	if _, csv := get(t, base+"&format=csv&exact_visitors=1", adminToken); !strings.HasPrefix(csv, "partner,clicks,visitors,claims") {
		t.Fatalf("csv header, exact: %s", strings.SplitN(csv, "\n", 2)[0])
	}
}

func TestAPIScopesPartners(t *testing.T) {
	srv := server(t)
	base := srv.URL + "/api/v1/reports?from=2026-11-10&to=2026-11-13"
	if code, _ := get(t, base, ""); code != 401 {
		t.Fatalf("no token: %d", code)
	}
	if code, _ := get(t, base, "wrong-token-0123456789"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	code, body := get(t, base+"&by=partner", adminToken)
	if code != 200 || !strings.Contains(body, `"partner": "PA"`) || !strings.Contains(body, `"partner": "PB"`) {
		t.Fatalf("admin: %d %s", code, body)
	}
	// A partner sees itself only, however it asks.
	code, body = get(t, base+"&by=partner", paToken)
	if code != 200 || !strings.Contains(body, `"partner": "PA"`) || strings.Contains(body, `"PB"`) {
		t.Fatalf("partner by partner: %d %s", code, body)
	}
	var doc struct {
		Totals map[string]any `json:"totals"`
	}
	_, body = get(t, base, paToken)
	json.Unmarshal([]byte(body), &doc)
	if doc.Totals["clicks"].(float64) != 3 {
		t.Fatalf("partner totals: %s", body)
	}
	if code, body := get(t, base+"&where=partner=PB", paToken); code != 403 || !strings.Contains(body, `reads partner \"PA\" only`) {
		t.Fatalf("partner asking for another: %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/api/v1/commissions?from=2026-11-10&to=2026-11-13&partner=PB", paToken); code != 403 {
		t.Fatalf("partner reading another's lines: %d %s", code, body)
	}
	code, body = get(t, srv.URL+"/api/v1/commissions?from=2026-11-10&to=2026-11-13", paToken)
	if code != 200 || strings.Contains(body, `"partner_id":"PB"`) || !strings.Contains(body, `"partner_id":"PA"`) {
		t.Fatalf("partner lines: %d %s", code, body)
	}
	code, body = get(t, srv.URL+"/api/v1/commissions?from=2026-11-10&to=2026-11-13&format=csv", adminToken)
	if code != 200 || strings.Count(body, "\n") != 6 || !strings.Contains(body, "ambassador-2025,PB,order,o3,acc,approved") {
		t.Fatalf("admin lines csv: %d %s", code, body)
	}
	for _, bad := range []string{"?by=secret", "?where=x", "?from=yesterday", "?to=2026-13-01", "?limit=0"} {
		if code, body := get(t, srv.URL+"/api/v1/reports"+bad, adminToken); code != 400 {
			t.Errorf("%s: %d %s", bad, code, body)
		}
	}
	if code, body := get(t, base+"&by=day&format=csv", adminToken); code != 200 || !strings.HasPrefix(body, "day,clicks,") {
		t.Fatalf("csv: %d %s", code, body)
	}
	// Without any token configured the API is off.
	off := httptest.NewServer(report.Handler(nil, report.Access{}, report.Page{}, nil))
	defer off.Close()
	if code, _ := get(t, off.URL+"/api/v1/reports", "x"); code != 403 {
		t.Fatalf("no tokens configured: %d", code)
	}
}

// artifacts is where screenshots go: $FIRSTCLAIM_ARTIFACTS, else a folder of the test's.
func artifacts(t *testing.T) string {
	dir := os.Getenv("FIRSTCLAIM_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	return dir
}

func TestPageInChromium(t *testing.T) {
	srv := server(t)
	ctx := browsertest.New(t, "")
	downloads := t.TempDir()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	js := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	waitFor := func(expr, want string) {
		t.Helper()
		var got string
		for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got = js(expr); got == want {
				return
			}
		}
		t.Fatalf("%s = %q, want %q (page error: %q)", expr, got, want, js(`document.querySelector('#error').textContent`))
	}
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err == nil {
			p := filepath.Join(artifacts(t), name)
			os.WriteFile(p, png, 0o644)
			t.Logf("screenshot: %s", p)
		}
	}
	pick := func(from, to string) {
		js(`document.querySelector('#from').value='` + from + `'; document.querySelector('#to').value='` + to + `';
			document.querySelector('#series').removeAttribute('data-clicks'); document.querySelector('#apply').click(); 'ok'`)
	}

	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL+"/ui#token="+adminToken), chromedp.WaitReady("#apply"))
	if js(`location.hash`) != "" {
		t.Fatal("the token stayed in the address")
	}
	pick("2026-11-10", "2026-11-12")
	waitFor(`document.querySelector('#series').getAttribute('data-clicks') || ''`, "3,2,1")
	if got := js(`document.querySelector('#series').getAttribute('data-claims')`); got != "2,0,1" {
		t.Errorf("claims drawn: %s", got)
	}
	if got := js(`document.querySelector('#series').getAttribute('data-protected')`); got != "0,1,0" {
		t.Errorf("protected drawn: %s", got)
	}
	if got := js(`document.querySelector('#series').querySelectorAll('polyline').length + ''`); got != "3" {
		t.Errorf("lines drawn: %s", got)
	}
	if got := js(`document.querySelector('[data-metric=clicks] b').textContent`); got != "6" {
		t.Errorf("clicks card: %s", got)
	}
	// Visitors from rollups are an estimate: the card says so, and "Visitors: exact" counts them.
	if got := js(`document.querySelector('[data-metric=visitors]').textContent + '|' + document.querySelector('[data-metric=visitors]').title`); !strings.HasPrefix(got, "≈ 4unique visitors (estimate ±5%)|") || !strings.Contains(got, "HyperLogLog") {
		t.Errorf("visitors card, estimated: %q", got)
	}
	js(`document.querySelector('#exact').value = '1'; document.querySelector('#apply').click(); 'ok'`)
	waitFor(`document.querySelector('[data-metric=visitors]').textContent`, "4unique visitors")
	js(`document.querySelector('#exact').value = ''; 'ok'`)
	if got := js(`[...document.querySelectorAll('#countries rect')].map(r => r.dataset.key + '=' + r.dataset.value).join(',')`); got != "DE=3,FR=2,US=1" {
		t.Errorf("country bars: %s", got)
	}
	// Countries by name, not only by code.
	if got := js(`[...document.querySelectorAll('#countries text[data-label]')].map(t => t.dataset.label).join(',')`); got != "Germany (DE),France (FR),United States (US)" {
		t.Errorf("country labels: %s", got)
	}
	if got := js(`document.querySelector('#credit').textContent`); got != "Countries: test countries (CC BY 4.0)" {
		t.Errorf("credit: %q", got)
	}
	if got := js(`[...document.querySelectorAll('#partners tr')].slice(1).map(r => r.cells[0].textContent + ':' + r.cells[3].textContent).join(',')`); got != "PA:0,PB:1" {
		t.Errorf("partners table (protected): %s", got)
	}
	waitFor(`document.querySelectorAll('#lines tr').length + ''`, "6")
	shot("report-admin.png")
	// At 1,400 px the page fits its tables without scrolling sideways, the page or any table.
	browsertest.Do(t, ctx, chromedp.EmulateViewport(1400, 900))
	pick("2026-11-10", "2026-11-12")
	waitFor(`document.querySelector('#series').getAttribute('data-clicks') || ''`, "3,2,1")
	waitFor(`document.querySelectorAll('#lines tr').length + ''`, "6")
	if got := js(`[document.documentElement, ...document.querySelectorAll('.scroll, section')].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => (e.querySelector('table') ? e.querySelector('table').id : e.id || e.className || e.tagName) + ':' + e.scrollWidth + '>' + e.clientWidth).join(',')`); got != "" {
		t.Errorf("scrolls sideways at 1,400 px: %s", got)
	}
	shot("report-1400.png")

	// The picker changes the numbers.
	pick("2026-11-11", "2026-11-11")
	waitFor(`document.querySelector('#series').getAttribute('data-clicks') || ''`, "2")
	if got := js(`document.querySelector('[data-metric=clicks] b').textContent`); got != "2" {
		t.Errorf("clicks card after the picker: %s", got)
	}

	// CSV download.
	pick("2026-11-10", "2026-11-12")
	waitFor(`document.querySelector('#series').getAttribute('data-clicks') || ''`, "3,2,1")
	js(`document.querySelector('[data-csv="by=partner"]').click(); 'ok'`)
	var csv []byte
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && csv == nil; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(filepath.Join(downloads, "firstclaim-partner.csv")); err == nil && len(b) > 0 {
			csv = b
		}
	}
	if !strings.HasPrefix(string(csv), "partner,clicks,") || !strings.Contains(string(csv), "\nPB,3,2,1,0,1,1,1,0,1,0,1,200.00 CNY,90.00 CNY") {
		t.Fatalf("downloaded CSV:\n%s", csv)
	}

	// A partner's token: its own numbers only, in the page and through the API behind it.
	// A new page load (a different query string), not a jump within the page.
	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL+"/ui?view=partner#token="+paToken), chromedp.WaitReady("#apply"))
	pick("2026-11-10", "2026-11-12")
	waitFor(`document.querySelector('#series').getAttribute('data-clicks') || ''`, "3,0,0")
	waitFor(`document.querySelector('#who').textContent`, "partner PA")
	if got := js(`[...document.querySelectorAll('#partners tr')].slice(1).map(r => r.cells[0].textContent).join(',')`); got != "PA" {
		t.Errorf("partner view lists partners %q", got)
	}
	waitFor(`document.querySelectorAll('#lines tr').length + ''`, "5") // o1, the rejected o2, o1's clawback, the lead
	if got := js(`[...document.querySelectorAll('#lines tr')].slice(1).map(r => r.cells[2].textContent).join(',')`); got != "PA,PA,PA,PA" {
		t.Errorf("partner view lines of %q", got)
	}
	status, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`fetch('/api/v1/commissions?partner=PB&from=2026-11-10&to=2026-11-13',
		{headers: {Authorization: 'Bearer ' + sessionStorage.getItem('fc_token')}}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("the partner page reading PB's lines: %v %v", status, err)
	}
	shot("report-partner.png")
}

// Codes asked for that are no link: the admin reads them, summed over minutes and redirectors, a
// replayed row counted once; a partner may not.
func TestUnknownCodesAPI(t *testing.T) {
	_, db := chtest.Database(t)
	m := func(id string, min int, code string, hits uint64) firstclaim.UnknownCode {
		ts := at(10, 10, min)
		return firstclaim.UnknownCode{ID: id, Minute: ts, Code: code, Hits: hits, FirstSeen: ts, LastSeen: ts.Add(30 * time.Second)}
	}
	rows := []firstclaim.UnknownCode{m("u1", 0, "wp-login.php", 40), m("u2", 1, "wp-login.php", 2), m("u3", 1, "summr", 3),
		m("u4", 1, firstclaim.CodeInvalid, 7)}
	if err := db.Events().Write(context.Background(), &sink.Batch{UnknownCodes: rows}); err != nil {
		t.Fatal(err)
	}
	if err := db.Events().Write(context.Background(), &sink.Batch{UnknownCodes: rows[:1], Retry: true}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(report.Handler(db, report.Access{Admin: adminToken, Partners: map[string]string{paToken: "PA"}}, report.Page{Geography: "test countries (CC BY 4.0)"}, nil))
	defer srv.Close()
	url := srv.URL + "/api/v1/unknown-codes?from=2026-11-10&to=2026-11-11"
	code, body := get(t, url, adminToken)
	var doc struct {
		Codes []struct {
			Code string `json:"code"`
			Hits uint64 `json:"hits"`
		} `json:"codes"`
	}
	json.Unmarshal([]byte(body), &doc)
	if code != 200 || len(doc.Codes) != 3 || doc.Codes[0].Code != "wp-login.php" || doc.Codes[0].Hits != 42 ||
		doc.Codes[1].Code != firstclaim.CodeInvalid || doc.Codes[2].Hits != 3 {
		t.Fatalf("admin: %d %s", code, body)
	}
	if code, _ := get(t, url, paToken); code != 403 {
		t.Fatalf("partner: %d", code)
	}
	if code, _ := get(t, url+"&limit=0", adminToken); code != 400 {
		t.Fatalf("limit 0: %d", code)
	}
}

// failing is a store that cannot reach its server.
type failing struct{}

var errDown = errors.New("dial tcp 10.20.30.40:9000: connect: connection refused")

func (failing) Groups(context.Context, report.Source, report.Slice) (report.Answer, error) {
	return report.Answer{}, errDown
}
func (failing) Lines(context.Context, report.LinesQuery) ([]attribution.Line, error) {
	return nil, errDown
}
func (failing) UnknownCodes(context.Context, time.Time, time.Time, int) ([]report.UnknownCode, error) {
	return nil, errDown
}

// A store that fails answers with a generic error and an id; what failed (which may name an
// internal host) goes to the log, never to a partner or anyone else.
func TestStoreErrorsStayInTheLog(t *testing.T) {
	var logs bytes.Buffer
	srv := httptest.NewServer(report.Handler(failing{}, report.Access{Admin: adminToken, Partners: map[string]string{paToken: "PA"}}, report.Page{},
		slog.New(slog.NewTextHandler(&logs, nil))))
	defer srv.Close()
	for _, path := range []string{"/api/v1/reports", "/api/v1/commissions", "/api/v1/unknown-codes"} {
		for _, tok := range []string{paToken, adminToken} {
			code, body := get(t, srv.URL+path, tok)
			if path == "/api/v1/unknown-codes" && tok == paToken {
				continue
			}
			if code != 502 || strings.Contains(body, "10.20.30.40") || !strings.Contains(body, "error id") {
				t.Errorf("%s: %d %s", path, code, body)
			}
		}
	}
	if !strings.Contains(logs.String(), "10.20.30.40") || !strings.Contains(logs.String(), "error_id=") {
		t.Fatalf("the log lacks the detail: %s", logs.String())
	}
}
