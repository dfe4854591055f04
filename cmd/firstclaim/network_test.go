package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

// Lines of claims that came through a network are posted back to it once per status, and its
// monthly statement sums them.
func TestPostbacksAndMonthlyExport(t *testing.T) {
	dsn, conn := chtest.Database(t)
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.RawQuery)
		mu.Unlock()
	}))
	defer srv.Close()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	nets := write("networks.json", `[{"name": "admitad", "programs": ["affiliate"], "url": "`+srv.URL+`/pb?uid={network_click_id}&order={order_id}&amount={base}&status={status}"}]`)
	write("associations.csv", "ts,program,account_id,partner_id,click_id,kind,claimed_at,network_click_id\n"+
		"2026-10-02T00:00:00Z,affiliate,a1,aff1,c1,register,2026-10-01T00:00:00Z,adm-111\n"+
		"2026-10-02T00:00:00Z,affiliate,a2,aff2,c2,register,2026-10-01T00:00:00Z,\n")
	write("orders.csv", "order_id,account_id,ts,product,category,billing,kind,currency,amount\n"+
		"o1,a1,2026-10-03T00:00:00Z,ecs,compute,prepaid,new,USD,120.50\n"+
		"o2,a2,2026-10-03T00:00:00Z,ecs,compute,prepaid,new,USD,80.00\n")
	for _, table := range []string{"associations", "orders"} {
		if code, _, stderr := runCmd(t, "import", "--clickhouse", dsn, table, filepath.Join(dir, table+".csv")); code != 0 {
			t.Fatal(stderr)
		}
	}
	attribute := func(asOf string) string {
		code, out, stderr := runCmd(t, "attribute", "--clickhouse", dsn, "--program", "affiliate", "--as-of", asOf, "--networks", nets)
		if code != 0 {
			t.Fatalf("attribute: %s", stderr)
		}
		return out
	}
	out := attribute("2026-10-10T00:00:00Z")
	if !strings.Contains(out, "postbacks to admitad: 2 due, 2 sent") {
		t.Fatalf("first run:\n%s", out)
	}
	if out := attribute("2026-10-10T00:00:00Z"); !strings.Contains(out, "postbacks to admitad: 0 due, 0 sent, 0 failed (0 attempts), 2 sent before") {
		t.Fatalf("the same run again must send nothing:\n%s", out) // each line and status once
	}
	if out := attribute("2026-11-20T00:00:00Z"); !strings.Contains(out, "postbacks to admitad: 2 due, 2 sent") { // approved now
		t.Fatalf("later run:\n%s", out)
	}
	mu.Lock()
	sent := strings.Join(got, "\n")
	mu.Unlock()
	for _, want := range []string{"uid=adm-111&order=o1&amount=120.50&status=pending", "uid=adm-111&order=o1&amount=120.50&status=approved",
		"uid=adm-111&order=a1&amount=1&status=pending", "uid=adm-111&order=a1&amount=1&status=approved"} {
		if !strings.Contains(sent, want) {
			t.Errorf("network never got %q; got:\n%s", want, sent)
		}
	}
	if len(got) != 4 || strings.Contains(sent, "o2") {
		t.Fatalf("%d postbacks (want 4; o2 came through no network):\n%s", len(got), sent)
	}
	if n := chtest.Count(t, conn, "SELECT countIf(ok = 1) FROM postbacks"); n != 4 {
		t.Fatalf("%d acknowledged attempts recorded", n)
	}
	code, csv, stderr := runCmd(t, "export", "--clickhouse", dsn, "--networks", nets, "--network", "admitad", "--month", "2026-10")
	if code != 0 || !strings.Contains(csv, "network,month,partner_id,currency,orders,effective_commissionable_amount,leads,commission") ||
		!strings.Contains(csv, "admitad,2026-10,aff1,USD,1,120.50,1,7.00") || strings.Contains(csv, "aff2") {
		// aff2's sign-up and order came through no network: not on the network's statement.
		t.Fatalf("export: %d %s\n%s", code, stderr, csv)
	}
	if code, _, stderr := runCmd(t, "attribute", "--input", dir, "--program", "affiliate", "--networks", nets); code == 0 || !strings.Contains(stderr, "--networks needs --clickhouse") {
		t.Fatalf("offline postbacks: %s", stderr)
	}
}
