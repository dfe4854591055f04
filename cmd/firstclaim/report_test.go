package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

// serve puts the reports and the page on the admin listener; partner tokens read their own rows.
func TestServeReportsAndPartnerTokens(t *testing.T) {
	dsn, _ := chtest.Database(t)
	tokens := filepath.Join(t.TempDir(), "partners")
	os.WriteFile(tokens, []byte("# partner token\npartner-a pa-token-0123456789abcdef\n"), 0o600)
	public, admin, logs, stop := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--admin-token", "admin-token-0123456789", "--partner-tokens", tokens, "--flush-interval", "50ms")
	load(t, public, 2, 40, nil)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d\n%s", code, logs)
	}
	// The numbers are in ClickHouse now; read them with the CLI.
	code, out, stderr := runCmd(t, "report", "--clickhouse", dsn, "--by", "partner,outcome")
	if code != 0 || !strings.Contains(out, "partner-a  claimed") || !strings.Contains(out, "total") {
		t.Fatalf("report: exit %d\n%s\n%s", code, out, stderr)
	}
	if code, _, stderr := runCmd(t, "report", "--clickhouse", dsn, "--by", "colour"); code == 0 || !strings.Contains(stderr, `cannot group by "colour"`) {
		t.Fatalf("bad dimension: %s", stderr)
	}
	// And through a server's admin listener.
	_, admin2, logs2, stop2 := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--admin-token", "admin-token-0123456789", "--partner-tokens", tokens)
	defer stop2()
	_ = admin
	for _, tc := range []struct {
		path, token string
		status      int
		want        string
	}{
		{"/api/v1/reports?by=partner", "admin-token-0123456789", 200, `"clicks": 40`},
		{"/api/v1/reports?by=partner", "pa-token-0123456789abcdef", 200, `"partner": "partner-a"`},
		{"/api/v1/reports?where=partner=partner-b", "pa-token-0123456789abcdef", 403, "only"},
		{"/api/v1/reports", "", 401, "bearer"},
		{"/ui", "", 200, "<title>firstclaim reports</title>"},
	} {
		req, _ := http.NewRequest("GET", admin2+tc.path, nil)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("%s: %d %s\n%s", tc.path, resp.StatusCode, b, logs2)
		}
	}
}
