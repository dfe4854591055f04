package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/enrich"
	"github.com/firstclaim/firstclaim/internal/browsertest"
	"github.com/firstclaim/firstclaim/internal/demo"
)

// The demo's sample visits, played at a server like the demo's (the sample links, loopback trusted
// as a proxy, the built-in countries, ClickHouse), show in the reports from the first minute:
// countries, devices, claims, protected clicks, bots, embedded requests and impressions, all in
// the campaign that lets a report leave them out.
func TestDemoSampleVisitsShowInTheReports(t *testing.T) {
	geo := enrich.BuiltinGeoPath(os.Getenv)
	if geo == "" {
		t.Fatal("the built-in geography database is not installed: run scripts/geo install (scripts/test does)")
	}
	dsn, _ := chtest.Database(t)
	links := filepath.Join(chtest.Root(t), "examples", "links.csv")
	public, admin, logs, stop := startServe(t, "--links", links, "--clickhouse", dsn, "--data-dir", t.TempDir(), "--geoip", geo,
		"--trusted-proxies", "127.0.0.1/32,::1/128", "--flush-interval", "100ms", "--admin-token", "demo-admin-token-0123")
	sum, err := demo.Play(t.Context(), public, 300, 7)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	// The page in Chromium, as a new user opens it: the countries panel filled, by name, and the
	// built-in database credited.
	ctx := browsertest.New(t, "")
	js := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}
	browsertest.Do(t, ctx, chromedp.EmulateViewport(1400, 1000), chromedp.Navigate(admin+"/ui#token=demo-admin-token-0123"), chromedp.WaitReady("#apply"))
	var labels string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		js(`document.querySelector('#apply').click(); 'ok'`)
		time.Sleep(300 * time.Millisecond)
		if labels = js(`[...document.querySelectorAll('#countries text[data-label]')].map(t => t.dataset.label).join('|')`); strings.Count(labels, "|") >= 7 {
			break
		}
	}
	for _, want := range []string{"United States (US)", "Germany (DE)", "Japan (JP)", "Brazil (BR)"} {
		if !strings.Contains(labels, want) {
			t.Errorf("the countries panel lacks %q: %s", want, labels)
		}
	}
	if credit := js(`document.querySelector('#credit').textContent`); !strings.Contains(credit, "nro.net") || !strings.Contains(credit, "CC BY 4.0") {
		t.Errorf("credit: %q", credit)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		dir := os.Getenv("FIRSTCLAIM_ARTIFACTS")
		if dir == "" {
			dir = t.TempDir()
		}
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, "demo-ui.png")
		os.WriteFile(p, png, 0o644)
		t.Logf("screenshot: %s", p)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, logs)
	}
	report := func(args ...string) map[string]map[string]any {
		t.Helper()
		code, out, stderr := runCmd(t, append([]string{"report", "--clickhouse", dsn, "--format", "json", "--where", "campaign=" + demo.SampleCampaign,
			"--from", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)}, args...)...)
		if code != 0 {
			t.Fatalf("report %v: %s", args, stderr)
		}
		var doc struct {
			Rows   []map[string]any `json:"rows"`
			Totals map[string]any   `json:"totals"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		rows := map[string]map[string]any{"": doc.Totals}
		for _, r := range doc.Rows {
			var key []string
			for _, a := range args {
				if strings.HasPrefix(a, "--by=") {
					for _, d := range strings.Split(strings.TrimPrefix(a, "--by="), ",") {
						key = append(key, r[d].(string))
					}
				}
			}
			rows[strings.Join(key, "/")] = r
		}
		return rows
	}
	byCountry := report("--by=country", "--include-bots")
	for country, visitors := range sum.Countries {
		if r := byCountry[country]; r == nil || r["clicks"].(float64) < float64(visitors)/2 {
			t.Errorf("country %s: %d sample visitors, report row %v", country, visitors, r)
		}
	}
	if len(sum.Countries) < 8 || len(byCountry) < 9 {
		t.Errorf("%d countries played, %d report rows", len(sum.Countries), len(byCountry)-1)
	}
	byDevice := report("--by=device", "--include-bots")
	for _, d := range []string{"mobile", "desktop", "tablet", "bot"} {
		if byDevice[d] == nil {
			t.Errorf("no %s clicks in %v", d, byDevice)
		}
	}
	totals := report("--include-bots")[""]
	for _, m := range []string{"claims", "kept", "protected", "not_navigation", "bots", "impressions"} {
		if totals[m].(float64) == 0 {
			t.Errorf("totals have no %s: %v", m, totals)
		}
	}
	if int(totals["clicks"].(float64)) != sum.Requests-sum.Impressions {
		t.Errorf("%v clicks in the report, %d redirects played", totals["clicks"], sum.Requests-sum.Impressions)
	}
}

// The demo's links file holds the sample links the visits go to.
func TestDemoLinksHoldTheSampleLinks(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chtest.Root(t), "examples", "links.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range demo.SampleLinks() {
		if !strings.Contains(string(data), l+",") {
			t.Errorf("examples/links.csv lacks %q", l)
		}
	}
}
