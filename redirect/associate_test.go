package redirect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/valyala/fasthttp"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

var pixelSecret = []byte("merchant-shared-secret-0123456789abcdef")

func assocHarness(t *testing.T) *harness {
	h := newHarness(t, func(o *Options) {
		o.Associations = AssociationOptions{PixelSecret: pixelSecret, Token: "s2s-token"}
	})
	h.serve(t)
	return h
}

// claimOf clicks a link like a browser and returns the claim cookie it set (name=value).
func (h *harness) claimOf(t *testing.T, code string) string {
	t.Helper()
	resp := h.get(t, "GET", "/r/"+code, nil)
	cs := setCookies(resp)
	if len(cs) != 1 {
		t.Fatalf("/r/%s set %d cookies", code, len(cs))
	}
	return cookieValue(cs[0])
}

func pixelURL(account, kind string, ts time.Time, secret []byte) string {
	return programPixelURL(account, kind, ts, secret, "")
}

// programPixelURL is a pixel signed for one program (none: every program).
func programPixelURL(account, kind string, ts time.Time, secret []byte, program string) string {
	sec := strconv.FormatInt(ts.Unix(), 10)
	q := url.Values{"account": {account}, "kind": {kind}, "ts": {sec}, "sig": {PixelSignature(secret, account, kind, sec, program)}}
	if program != "" {
		q.Set("program", program)
	}
	return "/px/assoc.gif?" + q.Encode()
}

func (h *harness) assocCount() int {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return len(h.rec.assocs)
}

func TestAssociationPixel(t *testing.T) {
	h := assocHarness(t)
	claim := h.claimOf(t, "a1") // partner-a claims the visitor for the affiliate program
	now := h.clock.now()

	resp := h.get(t, "GET", pixelURL("acct-1", "register", now, pixelSecret), map[string]string{"Cookie": claim, "Sec-Fetch-Dest": "image"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		t.Fatalf("pixel answered %d %v", resp.StatusCode, resp.Header)
	}
	if h.assocCount() != 1 {
		t.Fatalf("%d associations recorded", h.assocCount())
	}
	a := h.rec.assocs[0]
	if a.AccountID != "acct-1" || a.Kind != "register" || a.PartnerID != "partner-a" || a.Program != "affiliate" || a.Source != "pixel" ||
		a.ClickID == "" || !a.ClaimedAt.Equal(now.Truncate(time.Second)) || a.ID == "" {
		t.Fatalf("association %+v", a)
	}
	// A signed pixel is accepted once: loaded again (a reload, or a copy replayed with another
	// visitor's claim), it records nothing.
	other := h.claimOf(t, "b1")
	for _, ck := range []string{claim, other} {
		h.get(t, "GET", pixelURL("acct-1", "register", now, pixelSecret), map[string]string{"Cookie": ck})
	}
	if h.assocCount() != 1 {
		t.Fatalf("a replayed pixel recorded %d more associations", h.assocCount()-1)
	}
	if !strings.Contains(metricsText(h.srv.opts.Metrics), `firstclaim_association_rejections_total{source="pixel",reason="replayed"} 2`) {
		t.Fatal("replays not counted")
	}
	// A program named in the pixel is covered by its signature: added to a pixel signed without it,
	// it does not verify; signed with it, the pixel binds that program's claim only.
	if u := pixelURL("acct-4", "login", now, pixelSecret) + "&program=affiliate"; true {
		h.get(t, "GET", u, map[string]string{"Cookie": claim})
	}
	if h.assocCount() != 1 {
		t.Fatal("a program added to a signed pixel was accepted")
	}
	h.get(t, "GET", programPixelURL("acct-5", "login", now, pixelSecret, "affiliate"), map[string]string{"Cookie": claim})
	if h.assocCount() != 2 || h.rec.assocs[1].Program != "affiliate" || h.rec.assocs[1].AccountID != "acct-5" {
		t.Fatalf("a pixel signed for its program: %+v", h.rec.assocs)
	}
	// A cookie of the claim's name tossed in front of the real one does not hide it.
	h.get(t, "GET", pixelURL("acct-6", "login", now, pixelSecret), map[string]string{"Cookie": "fc_affiliate=k1.Zm9v.YmFy; " + claim})
	if h.assocCount() != 3 || h.rec.assocs[2].AccountID != "acct-6" || h.rec.assocs[2].PartnerID != "partner-a" {
		t.Fatalf("behind a tossed cookie: %+v", h.rec.assocs)
	}

	// Whatever goes wrong, the answer is the GIF and nothing is recorded, only counted.
	forged := strings.Replace(claim, ".", ".x", 1)
	bad := map[string]struct {
		path   string
		cookie string
	}{
		"unsigned":      {"/px/assoc.gif?account=acct-2&kind=login&ts=" + strconv.FormatInt(now.Unix(), 10), claim},
		"bad_signature": {pixelURL("acct-2", "login", now, []byte("not-the-merchant's-secret-at-all!!!")), claim},
		"stale":         {pixelURL("acct-2", "login", now.Add(-6*time.Minute), pixelSecret), claim},
		"future":        {pixelURL("acct-2", "login", now.Add(10*time.Minute), pixelSecret), claim},
		"bad_request":   {pixelURL("acct-2", "signup", now, pixelSecret), claim},
		"forged_cookie": {pixelURL("acct-forged", "login", now, pixelSecret), forged},
		"no_claim":      {pixelURL("acct-unclaimed", "login", now, pixelSecret), ""},
	}
	rejections := func(reason string) int {
		name := fmt.Sprintf(`firstclaim_association_rejections_total{source="pixel",reason="%s"} `, reason)
		for _, line := range strings.Split(metricsText(h.srv.opts.Metrics), "\n") {
			if v, ok := strings.CutPrefix(line, name); ok {
				n, _ := strconv.Atoi(v)
				return n
			}
		}
		return -1
	}
	for reason, tc := range bad {
		before, counted := h.assocCount(), rejections(reason)
		resp := h.get(t, "GET", tc.path, map[string]string{"Cookie": tc.cookie})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" {
			t.Errorf("%s: pixel answered %d", reason, resp.StatusCode)
		}
		if h.assocCount() != before {
			t.Errorf("%s: an association was recorded", reason)
		}
		if rejections(reason) != counted+1 {
			t.Errorf("%s: rejection not counted", reason)
		}
	}
	// Expired claim: a month later the cookie no longer protects anyone.
	h.clock.add(16 * 24 * time.Hour)
	before := h.assocCount()
	h.get(t, "GET", pixelURL("acct-3", "login", h.clock.now(), pixelSecret), map[string]string{"Cookie": claim})
	if h.assocCount() != before {
		t.Fatal("an expired claim made an association")
	}
}

func TestAssociationAPI(t *testing.T) {
	h := assocHarness(t)
	claim := h.claimOf(t, "amb") // partner-c, ambassador-2025
	_, value, _ := strings.Cut(claim, "=")
	post := func(token, body string) (int, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("POST", h.addr+"/v1/associations", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out map[string]string
		json.Unmarshal(b, &out)
		return resp.StatusCode, out
	}
	body := func(m map[string]string) string { b, _ := json.Marshal(m); return string(b) }

	code, out := post("s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "acct-9", "kind": "login", "cookie": value}))
	if code != 202 || out["association_id"] == "" || h.assocCount() != 1 {
		t.Fatalf("with the cookie: %d %v", code, out)
	}
	if a := h.rec.assocs[0]; a.PartnerID != "partner-c" || a.Source != "s2s" || a.Kind != "login" {
		t.Fatalf("association %+v", a)
	}
	code, out = post("s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "acct-10", "kind": "register", "click_id": "0190-abc"}))
	if code != 202 || h.assocCount() != 2 || h.rec.assocs[1].ClickID != "0190-abc" || h.rec.assocs[1].PartnerID != "" {
		t.Fatalf("with a click id: %d %v %+v", code, out, h.rec.assocs)
	}
	for _, tc := range []struct {
		token, body string
		status      int
		want        string
	}{
		{"", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value}), 401, "bearer token"},
		{"wrong", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value}), 401, "bearer token"},
		{"s2s-token", `{"program": "ambassador-2025", "acount": "x"}`, 400, `unknown field "acount"`},
		{"s2s-token", body(map[string]string{"program": "nope", "account_id": "x", "kind": "login", "cookie": value}), 400, `program "nope" is not configured`},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "visit", "cookie": value}), 400, `kind "visit"`},
		{"s2s-token", body(map[string]string{"program": "affiliate", "account_id": "x", "kind": "login", "cookie": value}), 422, "does not verify for program affiliate"},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login"}), 400, "claim cookie"},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value, "ts": "2026-02-01T00:00:00Z"}), 422, "not live"},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value, "ts": "1900-01-01T00:00:00Z"}), 400, "more than a year ago"},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value}) + `{"account_id": "y"}`, 400, "found more after it"},
		{"s2s-token", body(map[string]string{"program": "ambassador-2025", "account_id": "x", "kind": "login", "cookie": value}) + ` garbage`, 400, "body"},
	} {
		code, out := post(tc.token, tc.body)
		if code != tc.status || !strings.Contains(out["error"], tc.want) {
			t.Errorf("%s: %d %v; want %d %q", tc.body, code, out, tc.status, tc.want)
		}
	}
	if h.assocCount() != 2 {
		t.Fatalf("refused calls recorded associations: %d", h.assocCount())
	}
	// Without a configured token the API is off.
	off := newHarness(t, nil)
	off.serve(t)
	req, _ := http.NewRequest("POST", off.addr+"/v1/associations", bytes.NewReader(nil))
	req.Header.Set("Authorization", "Bearer ")
	resp, _ := client.Do(req)
	if resp.StatusCode != 403 {
		t.Fatalf("API without a token: %d", resp.StatusCode)
	}
}

func metricsText(set interface{ WritePrometheus(io.Writer) }) string {
	var b bytes.Buffer
	set.WritePrometheus(&b)
	return b.String()
}

// FuzzAssocPixel sends the association pixel any query, with and without a live claim: it never
// fails to answer the GIF, and it records an association only for a query whose signature covers
// the account, kind and time it carries.
func FuzzAssocPixel(f *testing.F) {
	h := newHarness(f, func(o *Options) { o.Associations = AssociationOptions{PixelSecret: pixelSecret} })
	now := h.clock.now()
	claim := func() string {
		ctx := request("GET", "/r/a1", nil)
		h.srv.Handler(ctx)
		return cookieValue(string(ctx.Response.Header.Peek("Set-Cookie")))
	}()
	sec := strconv.FormatInt(now.Unix(), 10)
	f.Add("acct-1", "register", sec, PixelSignature(pixelSecret, "acct-1", "register", sec, ""), "", true)
	f.Add("acct-1", "login", sec, "00", "affiliate", true)
	f.Add("a%00b", "register", "-1", "zz", "&account=x&account=y", false)
	f.Fuzz(func(t *testing.T, account, kind, ts, sig, extra string, withClaim bool) {
		h.rec.mu.Lock()
		h.rec.assocs = nil
		h.rec.mu.Unlock()
		q := url.Values{"account": {account}, "kind": {kind}, "ts": {ts}, "sig": {sig}}
		headers := map[string]string{}
		if withClaim {
			headers["Cookie"] = claim
		}
		ctx := request("GET", "/px/assoc.gif?"+q.Encode()+rawQuery(extra), headers)
		h.srv.Handler(ctx) // must not panic
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.ContentType()) != "image/gif" {
			t.Fatalf("answered %d %s", ctx.Response.StatusCode(), ctx.Response.Header.ContentType())
		}
		args := ctx.QueryArgs()
		got := h.assocCount()
		if got == 0 {
			return
		}
		a, k, s := string(args.Peek("account")), string(args.Peek("kind")), string(args.Peek("ts"))
		if got != 1 || !withClaim || string(args.Peek("sig")) != PixelSignature(pixelSecret, a, k, s, string(args.Peek("program"))) {
			t.Fatalf("recorded %d associations for account %q kind %q ts %q sig %q", got, a, k, s, args.Peek("sig"))
		}
		h.rec.mu.Lock()
		rec := h.rec.assocs[0]
		h.rec.mu.Unlock()
		if rec.AccountID != a || rec.Kind != k || rec.PartnerID != "partner-a" {
			t.Fatalf("recorded %+v for account %q kind %q", rec, a, k)
		}
	})
}

// rawQuery keeps the query syntax of s ('&', '=', '%') and escapes what no request line may hold
// (controls, spaces, '#', bytes past ASCII), as a client would.
func rawQuery(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '#' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// request is a fasthttp request context for the handler, as the server would pass it.
func request(method, uri string, headers map[string]string) *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetRequestURI(uri)
	req.Header.Set("User-Agent", browserUA)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	ctx.Init(&req, &netAddr, nil)
	return ctx
}
