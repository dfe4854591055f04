package redirect

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/internal/browsertest"
)

// The claim cookie in a real browser's cookie jar: attributes, first claim wins, and no claim
// from embedded images or frames (cookie stuffing).
func TestClaimCookieInChromium(t *testing.T) {
	ctx := browsertest.New(t, "")

	merchant, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(o *Options) { o.Now = time.Now })
	h.serve(t)
	m := "http://" + merchant.Addr().String()
	links := fmt.Sprintf("code,url,partner,program,campaign\na1,%[1]s/landing?from=a,partner-a,affiliate,\nb1,%[1]s/landing?from=b,partner-b,affiliate,\nb2,%[1]s/pixel.gif,partner-b,affiliate,\n", m)
	if err := osWrite(h.path, links); err != nil {
		t.Fatal(err)
	}
	if err := h.links.Load(h.path); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/landing", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<!doctype html><title>landed</title><p>welcome")
	})
	mux.HandleFunc("/pixel.gif", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/gif")
		w.Write(gif1x1)
	})
	// A page of partner B's that tries to stuff its claim through an image and an iframe.
	mux.HandleFunc("/stuffing", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>stuffing</title><img id=i src="%[1]s/r/b2"><iframe src="%[1]s/r/b1"></iframe>`, h.addr)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(merchant)
	t.Cleanup(func() { srv.Close() })

	claimCookie := func() *network.Cookie {
		for _, c := range browsertest.Cookies(t, ctx) {
			if c.Name == "fc_affiliate" {
				return c
			}
		}
		return nil
	}
	waitOutcome := func(o firstclaim.Outcome, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := 0
			h.rec.mu.Lock()
			for _, c := range h.rec.clicks {
				if c.Outcome == o {
					got++
				}
			}
			h.rec.mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("want %d clicks with outcome %v, have %d", n, o, got)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	// Embedded requests never claim.
	browsertest.Do(t, ctx, chromedp.Navigate(m+"/stuffing"), chromedp.WaitReady(chromedp.CSS("#i")))
	waitOutcome(firstclaim.OutcomeNotNavigation, 2)
	if c := claimCookie(); c != nil {
		t.Fatalf("an image or iframe set a claim cookie: %+v", c)
	}

	// A navigation claims, with the attributes the issue asks for.
	start := time.Now()
	browsertest.Do(t, ctx, chromedp.Navigate(h.addr+"/r/a1"))
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(href, m+"/landing?from=a&click_id=") {
		t.Fatalf("landed on %q", href)
	}
	c := claimCookie()
	if c == nil {
		t.Fatal("no claim cookie after a navigation")
	}
	expires := time.Unix(int64(c.Expires), 0)
	if d := expires.Sub(start.Add(15 * 24 * time.Hour)); d < -5*time.Second || d > 5*time.Second {
		t.Errorf("cookie expires %v, want 15 days from %v", expires, start)
	}
	if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Session {
		t.Errorf("cookie attributes: %+v", c)
	}
	waitOutcome(firstclaim.OutcomeClaimed, 1)
	first := c.Value

	// Partner B's link, then B's stuffing page again: the claim stays A's.
	browsertest.Do(t, ctx, chromedp.Navigate(h.addr+"/r/b1"))
	waitOutcome(firstclaim.OutcomeProtected, 1)
	browsertest.Do(t, ctx, chromedp.Navigate(m+"/stuffing"), chromedp.WaitReady(chromedp.CSS("#i")))
	waitOutcome(firstclaim.OutcomeNotNavigation, 4)
	if c := claimCookie(); c == nil || c.Value != first {
		t.Fatalf("claim changed: %+v", c)
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	for _, r := range h.rec.clicks {
		if r.Outcome == firstclaim.OutcomeNotNavigation && r.ClaimPartnerID != "" && r.ClaimPartnerID != "partner-a" {
			t.Errorf("stuffing click names claim holder %q", r.ClaimPartnerID)
		}
	}
}
