package links_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/internal/browsertest"
	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/report"
)

// The links part of /ui in Chromium: the admin creates a link (code generated), uploads a CSV,
// changes a destination, disables a link and sees its QR code; a partner sees and creates only
// their own links.
func TestLinksPageInChromium(t *testing.T) {
	_, db := chtest.Database(t)
	e := newEdge(t, db, "")
	if err := e.cat.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	access := report.Access{Admin: adminToken, Partners: map[string]string{p1Token: "p1"}}
	mux := http.NewServeMux()
	api := links.Handler(links.APIOptions{Catalog: e.cat, Scope: access.Scope, KnownProgram: known, PublicURL: "https://go.example.com", Logger: quiet})
	mux.Handle("/api/v1/links", api)
	mux.Handle("/api/v1/links/", api)
	reports := report.Handler(db, access, report.Page{}, quiet)
	mux.Handle("/api/v1/", reports)
	mux.Handle("/ui", reports)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := browsertest.New(t, "")
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
	// The page's rows, sorted as JavaScript sorts them (by UTF-16 code units: bytes, for these).
	sorted := func(rows ...string) string { slices.Sort(rows); return strings.Join(rows, ",") }
	rows := `[...document.querySelectorAll('#link-table tr[data-code]')].map(r => r.dataset.code + ':' + r.dataset.status).sort().join(',')`

	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL+"/ui#token="+adminToken), chromedp.WaitReady("#apply"))
	waitFor(`document.querySelector('#links-manage').hidden + ''`, "false")
	// Create one, code generated.
	js(`document.querySelector('#new-url').value = 'https://shop.example.com/one';
		document.querySelector('#new-partner').value = 'p1';
		document.querySelector('#link-create').requestSubmit(); 'ok'`)
	waitFor(`document.querySelectorAll('#link-table tr[data-code]').length + ''`, "1")
	code := js(`document.querySelector('#link-table tr[data-code]').dataset.code`)
	if v, ok := e.cat.Get(code); !ok || v.URL != "https://shop.example.com/one" || v.PartnerID != "p1" || len(code) != links.CodeLen {
		t.Fatalf("created through the page: %q %+v", code, v)
	}
	// Upload a CSV of two links.
	csv := filepath.Join(t.TempDir(), "upload.csv")
	os.WriteFile(csv, []byte("code,url,partner,program\nup-1,https://shop.example.com/u1,p1,affiliate\nup-2,https://shop.example.com/u2,p2,affiliate\n"), 0o644)
	browsertest.Do(t, ctx, chromedp.SetUploadFiles("#link-upload", []string{csv}))
	waitFor(rows, sorted(code+":active", "up-1:active", "up-2:active"))
	if msg := js(`document.querySelector('#links-message').textContent`); !strings.Contains(msg, "2 created") {
		t.Fatalf("upload message: %q", msg)
	}
	// A bad upload says which line is wrong.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	os.WriteFile(bad, []byte("code,url,partner,program\nok-1,https://shop.example.com/,p1,affiliate\nbad 2,https://shop.example.com/,p1,affiliate\n"), 0o644)
	browsertest.Do(t, ctx, chromedp.SetUploadFiles("#link-upload", []string{bad}))
	waitFor(`document.querySelector('#error').textContent.includes('line 3') + ''`, "true")
	// Change a destination (the page asks with a prompt) and disable a link.
	js(`window.prompt = () => 'https://shop.example.com/u1-new';
		document.querySelector('#link-table tr[data-code="up-1"] [data-action=edit]').click(); 'ok'`)
	waitFor(`document.querySelector('#link-table tr[data-code="up-1"]').cells[1].textContent`, "https://shop.example.com/u1-new")
	js(`document.querySelector('#link-table tr[data-code="up-2"] [data-action=disable]').click(); 'ok'`)
	waitFor(rows, sorted(code+":active", "up-1:active", "up-2:disabled"))
	if v, _ := e.cat.Get("up-2"); v.Status != "disabled" {
		t.Fatalf("disabled through the page: %+v", v)
	}
	// The QR code is shown, a real image.
	js(`document.querySelector('#link-table tr[data-code="up-1"] [data-action=QR]').click(); 'ok'`)
	waitFor(`(document.querySelector('#qr img') && document.querySelector('#qr img').complete && document.querySelector('#qr img').naturalWidth > 100) + ''`, "true")
	// Search.
	js(`document.querySelector('#link-q').value = 'u1-new'; document.querySelector('#link-search').requestSubmit(); 'ok'`)
	waitFor(rows, "up-1:active")

	// A partner: only their own links, no partner field.
	js(`sessionStorage.clear(); 'ok'`)
	browsertest.Do(t, ctx, chromedp.Navigate("about:blank"), chromedp.Navigate(srv.URL+"/ui#token="+p1Token), chromedp.WaitReady("#apply"))
	waitFor(rows, sorted(code+":active", "up-1:active"))
	if js(`document.querySelector('#new-partner-label').hidden + ''`) != "true" {
		t.Fatal("a partner's page asks for a partner")
	}
	js(`document.querySelector('#new-code').value = 'mine'; document.querySelector('#new-url').value = 'https://shop.example.com/mine';
		document.querySelector('#link-create').requestSubmit(); 'ok'`)
	waitFor(`(document.querySelector('#link-table tr[data-code="mine"]') !== null) + ''`, "true")
	if v, _ := e.cat.Get("mine"); v.PartnerID != "p1" {
		t.Fatalf("a partner's link belongs to %q", v.PartnerID)
	}
}
