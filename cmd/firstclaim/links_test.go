package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/internal/apidoc"
	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/redirect"
	"github.com/firstclaim/firstclaim/report"
)

const linksAdmin = "links-admin-token-0123"

func adminCall(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+linksAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// redirectsTo returns where public/r/code sends a visitor ("" for no redirect).
func redirectsTo(t *testing.T, public, code string) string {
	t.Helper()
	resp, err := noFollow.Get(public + "/r/" + code)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return ""
	}
	loc := resp.Header.Get("Location")
	base, _, _ := strings.Cut(loc, "?")
	return base
}

// within polls cond until it holds or d has passed.
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two servers on one ClickHouse, links managed through the API of either: a link created through
// one is served by both within 2 s, a disabled link stops on both, and with ClickHouse stopped a
// restarted edge serves from its snapshot.
func TestTwoServersKeepTheirLinksInStep(t *testing.T) {
	srv := chtest.NewServer(t)
	if _, err := clickhouse.Migrate(context.Background(), srv.DSN, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	common := []string{"--clickhouse", srv.DSN, "--admin-token", linksAdmin, "--claim-limit", "0", "--rollup-every", "0", "--links-poll", "200ms"}
	pubA, adminA, _, _ := startServe(t, append(common, "--data-dir", dirA)...)
	pubB, _, _, stopB := startServe(t, append(common, "--data-dir", dirB)...)

	if code, body := adminCall(t, "POST", adminA+"/api/v1/links", `{"code":"shared","url":"https://shop.example.com/shared","partner":"p1","program":"affiliate"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	if got := redirectsTo(t, pubA, "shared"); got != "https://shop.example.com/shared" {
		t.Fatalf("the creating server redirects to %q", got)
	}
	if !within(2*time.Second, func() bool { return redirectsTo(t, pubB, "shared") == "https://shop.example.com/shared" }) {
		t.Fatal("the other server does not serve the new link within 2 s")
	}
	// A CSV upload of many links, codes generated, through A.
	var csv strings.Builder
	csv.WriteString("url,partner,program\n")
	for range 500 {
		csv.WriteString("https://shop.example.com/bulk,p2,affiliate\n")
	}
	req, _ := http.NewRequest("POST", adminA+"/api/v1/links", strings.NewReader(csv.String()))
	req.Header.Set("Authorization", "Bearer "+linksAdmin)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("bulk: %v %v", resp, err)
	}
	resp.Body.Close()

	if code, body := adminCall(t, "DELETE", adminA+"/api/v1/links/shared", ""); code != 200 {
		t.Fatalf("disable: %d %s", code, body)
	}
	for _, pub := range []string{pubA, pubB} {
		if !within(2*time.Second, func() bool { return redirectsTo(t, pub, "shared") == "" }) {
			t.Fatalf("%s still redirects a disabled link after 2 s", pub)
		}
	}
	// The snapshot: B stops, ClickHouse stops, B starts again and serves what it knew.
	if exit := stopB(); exit != 0 {
		t.Fatalf("B exited with %d", exit)
	}
	if code, body := adminCall(t, "POST", adminA+"/api/v1/links", `{"code":"while-b-was-away","url":"https://shop.example.com/away","partner":"p1","program":"affiliate"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	srv.Stop()
	pubB, adminB, logsB, _ := startServe(t, append(common, "--data-dir", dirB)...)
	if !strings.Contains(logsB.String(), "snapshot") {
		t.Fatalf("B did not say it serves its snapshot:\n%s", logsB)
	}
	resp, err = noFollow.Get(adminB + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("B from its snapshot is not ready: %v %v", resp, err)
	}
	if got := redirectsTo(t, pubB, "shared"); got != "" {
		t.Fatalf("from the snapshot, the disabled link redirects to %q", got)
	}
	srv.Start()
	if !within(15*time.Second, func() bool { return redirectsTo(t, pubB, "while-b-was-away") == "https://shop.example.com/away" }) {
		t.Fatal("B did not catch up with ClickHouse once it answered")
	}
}

// links import loads a file (again: nothing changes; edited: new versions), links export writes
// what ClickHouse holds in the file's form, and the exported file loads as --links.
func TestLinksImportExport(t *testing.T) {
	dsn, db := chtest.Database(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "links.csv")
	os.WriteFile(file, []byte("code,url,partner,program,campaign\n-dash,https://shop.example.com/a,p1,affiliate,c\nb,https://shop.example.com/b,p2,affiliate,\n"), 0o644)
	runCmd := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env := &environment{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
		code := run(context.Background(), args, env)
		return code, out.String(), errb.String()
	}
	if code, _, errs := runCmd("links", "import", file, "--clickhouse", dsn); code == 0 || !strings.Contains(errs, "flags go before the subcommand") {
		t.Fatalf("flags after the subcommand: %d %s", code, errs)
	}
	if code, out, errs := runCmd("links", "--clickhouse", dsn, "import", file); code != 0 || !strings.Contains(out, "2 new, 0 changed, 0 unchanged") {
		t.Fatalf("import: %d %s %s", code, out, errs)
	}
	if code, out, errs := runCmd("links", "--clickhouse", dsn, "import", file); code != 0 || !strings.Contains(out, "0 new, 0 changed, 2 unchanged") {
		t.Fatalf("import again: %d %s %s", code, out, errs)
	}
	os.WriteFile(file, []byte("code,url,partner,program,campaign,status\n-dash,https://shop.example.com/a2,p1,affiliate,c,disabled\n"), 0o644)
	if code, out, errs := runCmd("links", "--clickhouse", dsn, "import", file); code != 0 || !strings.Contains(out, "0 new, 1 changed, 0 unchanged") {
		t.Fatalf("import edited: %d %s %s", code, out, errs)
	}
	os.WriteFile(file, []byte("code,url,partner,program\nb,https://shop.example.com/b,p3,affiliate\n"), 0o644)
	if code, _, errs := runCmd("links", "--clickhouse", dsn, "import", file); code == 0 || !strings.Contains(errs, "partner") {
		t.Fatalf("moving a link to another partner: %d %s", code, errs)
	}
	os.WriteFile(file, []byte("code,url,partner,program\nc,javascript:alert(1),p3,affiliate\n"), 0o644)
	if code, _, errs := runCmd("links", "--clickhouse", dsn, "import", file); code == 0 || !strings.Contains(errs, "links.csv:2") {
		t.Fatalf("a bad line: %d %s", code, errs)
	}
	hist, err := db.LinkHistory(context.Background(), "-dash")
	if err != nil || len(hist) != 2 || hist[1].URL != "https://shop.example.com/a2" || hist[1].Actor != "import" {
		t.Fatalf("history: %+v %v", hist, err)
	}
	out := filepath.Join(dir, "export.csv")
	if code, _, errs := runCmd("links", "--clickhouse", dsn, "--out", out, "export"); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	got, err := redirect.ReadLinks(out, func(string) bool { return true })
	if err != nil {
		t.Fatalf("the export does not load as a links file: %v", err)
	}
	if len(got) != 2 || got[0].Code != "-dash" || got[0].Status != "disabled" || got[0].URL != "https://shop.example.com/a2" {
		t.Fatalf("exported: %+v", got)
	}
}

// The OpenAPI document names every route the servers register, and every route it names is
// served (no 404 from the router, no 405).
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	documented, err := apidoc.Routes()
	if err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	var registered []string
	for _, list := range [][]string{redirect.AdminRoutes(), redirect.PublicRoutes(), report.Routes(), links.Routes(), {"GET " + apidoc.Path}} {
		registered = append(registered, list...)
	}
	slices.Sort(registered)
	registered = slices.Compact(registered)
	for _, r := range registered {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is served but not documented", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(registered, r) {
			t.Errorf("route %s is documented but not served", r)
		}
	}

	dsnDB, _ := chtest.Database(t)
	public, admin, _, _ := startServe(t, "--clickhouse", dsnDB, "--admin-token", linksAdmin, "--data-dir", t.TempDir(), "--rollup-every", "0")
	if code, body := adminCall(t, "POST", admin+"/api/v1/links", `{"code":"doc","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, r := range documented {
		method, path, _ := strings.Cut(r, " ")
		base := admin
		if slices.Contains(redirect.PublicRoutes(), r) {
			base = public
		}
		path = strings.ReplaceAll(path, "{code}", "doc")
		if strings.HasPrefix(path, "/debug/pprof/") && path != "/debug/pprof/" {
			path += "?seconds=1"
		}
		req, _ := http.NewRequest(method, base+path, strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+linksAdmin)
		resp, err := (&http.Client{Timeout: 10 * time.Second, CheckRedirect: noFollow.CheckRedirect}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound && string(body) == "404 page not found\n" {
			t.Errorf("%s: %d %q: documented but not routed", r, resp.StatusCode, body)
		}
	}
	resp, err := http.Get(admin + apidoc.Path)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("the document is not served: %v %v", resp, err)
	}
	resp.Body.Close()
}
