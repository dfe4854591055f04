package main

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/internal/geotest"
)

// Geography, device, the real client address behind a trusted proxy, and each flag, as columns in
// ClickHouse: kept and flagged, never dropped.
func TestClicksKnownInClickHouse(t *testing.T) {
	dsn, conn := chtest.Database(t)
	geo := filepath.Join(t.TempDir(), "city.mmdb")
	geotest.Write(t, geo, "GeoIP2-City", []geotest.Place{
		{Network: "81.2.69.0/24", Country: "GB", Region: "ENG", RegionName: "England", City: "London"},
		{Network: "2001:db8:100::/48", Country: "DE", Region: "BE", City: "Berlin"},
	})
	public, _, logs, stop := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--geoip", geo, "--trusted-proxies", "127.0.0.0/8", "--claim-limit", "2", "--flush-interval", "50ms")
	const iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	send := func(h map[string]string) {
		req, _ := http.NewRequest(http.MethodGet, public+"/r/summer", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	// Each request names itself in its Referer, so the rows can be put in request order.
	send(map[string]string{"User-Agent": iphone, "X-Forwarded-For": "81.2.69.142", "Referer": "https://news.example/1"})
	send(map[string]string{"User-Agent": iphone, "X-Forwarded-For": "81.2.69.142", "Referer": "https://t.example/2"}) // same visitor and link: duplicate
	send(map[string]string{"User-Agent": chromeUA, "Forwarded": `for="[2001:db8:100::5]"`, "Referer": "https://t.example/3"})
	send(map[string]string{"User-Agent": chromeUA, "X-Forwarded-For": "81.2.69.142", "Sec-Fetch-Dest": "image", "Referer": "https://t.example/4"})
	send(map[string]string{"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "Referer": "https://t.example/5"})
	send(map[string]string{"User-Agent": iphone, "X-Forwarded-For": "81.2.69.142", "Referer": "https://t.example/6"}) // third claim from one address
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, logs)
	}
	type row struct {
		country, region, city, device, os, browser, ip, refHost, outcome string
		dup, bot, notNav, limited                                        uint8
	}
	rows, err := conn.Conn().Query(context.Background(), `SELECT country, region, city, device_type, os, browser, ip, referer_host, outcome,
		duplicate, bot, not_navigation, rate_limited FROM clicks ORDER BY referer`)
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.country, &r.region, &r.city, &r.device, &r.os, &r.browser, &r.ip, &r.refHost, &r.outcome,
			&r.dup, &r.bot, &r.notNav, &r.limited); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	rows.Close()
	want := []row{
		{"GB", "ENG", "London", "mobile", "iOS", "Safari", "81.2.69.0", "news.example", "claimed", 0, 0, 0, 0},
		{"GB", "ENG", "London", "mobile", "iOS", "Safari", "81.2.69.0", "t.example", "claimed", 1, 0, 0, 0},
		{"DE", "BE", "Berlin", "desktop", "Windows", "Chrome", "2001:db8:100::", "t.example", "claimed", 0, 0, 0, 0},
		{"GB", "ENG", "London", "desktop", "Windows", "Chrome", "81.2.69.0", "t.example", "not_navigation", 0, 0, 1, 0},
		{"", "", "", "bot", "", "Slackbot-LinkExpanding 1.0", "127.0.0.0", "t.example", "bot", 0, 1, 0, 0},
		{"GB", "ENG", "London", "mobile", "iOS", "Safari", "81.2.69.0", "t.example", "rate_limited", 1, 0, 0, 1},
	}
	if len(got) != len(want) {
		t.Fatalf("%d clicks in ClickHouse, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("click %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
