package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/internal/browsertest"
	"github.com/firstclaim/firstclaim/redirect"
)

const journeySecret = "merchant-pixel-secret-0123456789"

// journeyLinks writes links of partners A and B, both to the merchant's landing page.
func journeyLinks(t *testing.T, merchant string) string {
	p := filepath.Join(t.TempDir(), "links.csv")
	os.WriteFile(p, []byte(fmt.Sprintf("code,url,partner,program,campaign\nla,%[1]s/landing,partner-a,ambassador-2025,spring\nlb,%[1]s/landing,partner-b,ambassador-2025,spring\n", merchant)), 0o644)
	return p
}

// orderAndAttribute imports one order for account, runs the job, and returns its lines.
func orderAndAttribute(t *testing.T, dsn, account string, at time.Time) []map[string]string {
	t.Helper()
	orders := filepath.Join(t.TempDir(), "orders.csv")
	os.WriteFile(orders, []byte("order_id,account_id,ts,product,category,billing,kind,currency,amount\n"+
		"ord-1,"+account+","+at.Add(time.Minute).Format(time.RFC3339)+",ecs,compute,prepaid,new,CNY,200.00\n"), 0o644)
	if code, _, stderr := runCmd(t, "import", "--clickhouse", dsn, "orders", orders); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	out := filepath.Join(t.TempDir(), "lines.ndjson")
	if code, _, stderr := runCmd(t, "attribute", "--clickhouse", dsn, "--program", "ambassador-2025",
		"--as-of", at.Add(time.Hour).Format(time.RFC3339), "--out", out); code != 0 {
		t.Fatalf("attribute: %s", stderr)
	}
	data, _ := os.ReadFile(out)
	var lines []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m map[string]string
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

func checkOneLineForA(t *testing.T, lines []map[string]string, account string) {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("want one line, got %v", lines)
	}
	l := lines[0]
	if l["line"] != "order" || l["partner_id"] != "partner-a" || l["account_id"] != account || l["status"] != "pending" ||
		l["rate"] != "0.45" || l["commission"] != "90.00" {
		t.Fatalf("line %v", l)
	}
}

// The journey in a real browser: partner A's link, then partner B's, then the merchant's sign-up
// page with the association pixel; an order; the job: one order line, for partner A.
func TestJourneyInChromium(t *testing.T) {
	dsn, _ := chtest.Database(t)
	ml, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mport := ml.Addr().(*net.TCPAddr).Port
	merchant := fmt.Sprintf("http://www.shop.test:%d", mport)

	public, _, logs, stop := startServe(t, "--links", journeyLinks(t, merchant), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--pixel-secret", journeySecret, "--flush-interval", "50ms")
	u, _ := url.Parse(public)
	edge := "http://go.shop.test:" + u.Port()

	mux := http.NewServeMux()
	mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<!doctype html><title>shop</title>") })
	mux.HandleFunc("/welcome", func(w http.ResponseWriter, r *http.Request) {
		// The merchant signs the pixel on its server when the account has just been created.
		account, ts := r.URL.Query().Get("account"), strconv.FormatInt(time.Now().Unix(), 10)
		sig := redirect.PixelSignature([]byte(journeySecret), account, "register", ts, "")
		fmt.Fprintf(w, `<!doctype html><title>welcome</title><img id=px src="%s/px/assoc.gif?account=%s&kind=register&ts=%s&sig=%s" onload="document.title='tracked'">`,
			edge, url.QueryEscape(account), ts, sig)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ml)
	t.Cleanup(func() { srv.Close() })

	ctx := browsertest.New(t, "MAP *.shop.test 127.0.0.1")
	start := time.Now().UTC().Truncate(time.Second)
	browsertest.Do(t, ctx, chromedp.Navigate(edge+"/r/la"), chromedp.WaitReady("body"))
	browsertest.Do(t, ctx, chromedp.Navigate(edge+"/r/lb"), chromedp.WaitReady("body")) // protected: A keeps the claim
	browsertest.Do(t, ctx, chromedp.Navigate(merchant+"/welcome?account=acct-77"), chromedp.WaitReady("#px"))
	var title string
	if !waitFor(10*time.Second, func() bool {
		title, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.title`))
		return title == "tracked"
	}) {
		t.Fatalf("the pixel did not load (title %q)", title)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, logs)
	}
	checkOneLineForA(t, orderAndAttribute(t, dsn, "acct-77", start), "acct-77")
}

// The same journey over TCP, with the merchant's server reporting the sign-up through the API.
func TestJourneyOverTCP(t *testing.T) {
	dsn, conn := chtest.Database(t)
	public, _, logs, stop := startServe(t, "--links", journeyLinks(t, "https://shop.example.com"), "--clickhouse", dsn,
		"--data-dir", t.TempDir(), "--association-token", "s2s-secret-token-0123", "--flush-interval", "50ms")
	start := time.Now().UTC().Truncate(time.Second)
	get := func(path, cookie string) *http.Response {
		req, _ := http.NewRequest("GET", public+path, nil)
		req.Header.Set("User-Agent", chromeUA)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	ra := get("/r/la", "")
	claim := strings.SplitN(ra.Header.Get("Set-Cookie"), ";", 2)[0]
	if !strings.HasPrefix(claim, "fc_ambassador-2025=") {
		t.Fatalf("no claim: %v", ra.Header)
	}
	if rb := get("/r/lb", claim); rb.Header.Get("Set-Cookie") != "" {
		t.Fatal("partner B's click changed the claim")
	}
	body, _ := json.Marshal(map[string]string{"program": "ambassador-2025", "account_id": "acct-88", "kind": "register",
		"cookie": strings.TrimPrefix(claim, "fc_ambassador-2025=")})
	req, _ := http.NewRequest("POST", public+"/v1/associations", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer s2s-secret-token-0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("association API: %d %s", resp.StatusCode, b)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, logs)
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM clicks WHERE outcome = 'protected' AND claim_partner_id = 'partner-a'"); n != 1 {
		t.Fatalf("protected clicks recorded: %d", n)
	}
	checkOneLineForA(t, orderAndAttribute(t, dsn, "acct-88", start), "acct-88")
}
