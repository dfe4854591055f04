package redirect

import (
	"bufio"
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/cookie"
)

func TestFirstClaimWinsOverTCP(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)

	// §1.2: the first navigation claims.
	resp := h.get(t, "GET", "/r/a1", nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("status %d, want 302", resp.StatusCode)
	}
	sc := setCookies(resp)
	if len(sc) != 1 {
		t.Fatalf("Set-Cookie = %q, want one claim cookie", sc)
	}
	for _, want := range []string{"fc_affiliate=", "Max-Age=1296000", "Expires=Mon, 16 Mar 2026 12:00:00 GMT", "Path=/", "HttpOnly", "SameSite=Lax"} {
		if !strings.Contains(sc[0], want) {
			t.Errorf("Set-Cookie %q lacks %q", sc[0], want)
		}
	}
	if got := resp.Header.Get("Cache-Control"); got != "private, no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	first := h.rec.last(t)
	if first.Outcome != firstclaim.OutcomeClaimed || first.PartnerID != "partner-a" || first.ClaimPartnerID != "partner-a" ||
		first.ClaimClickID != first.ID || !first.ClaimExpiresAt.Equal(h.clock.now().Add(15*24*time.Hour)) {
		t.Fatalf("first click record = %+v", first)
	}
	if !strings.Contains(resp.Header.Get("Location"), "click_id="+first.ID) {
		t.Fatalf("Location %q lacks the click id %s", resp.Header.Get("Location"), first.ID)
	}
	claimCookie := cookieValue(sc[0])

	// §1.4: another partner's link is protected: no Set-Cookie, the record names the holder.
	h.clock.add(24 * time.Hour)
	resp = h.get(t, "GET", "/r/b1", map[string]string{"Cookie": claimCookie})
	if resp.StatusCode != http.StatusFound || len(setCookies(resp)) != 0 {
		t.Fatalf("protected click: status %d, Set-Cookie %q", resp.StatusCode, setCookies(resp))
	}
	prot := h.rec.last(t)
	if prot.Outcome != firstclaim.OutcomeProtected || prot.PartnerID != "partner-b" || prot.ClaimPartnerID != "partner-a" || prot.ClaimClickID != first.ID {
		t.Fatalf("protected record = %+v", prot)
	}

	// §1.3: the same partner (another of its links) is kept, and the expiry does not move.
	resp = h.get(t, "GET", "/r/a2", map[string]string{"Cookie": claimCookie})
	if len(setCookies(resp)) != 0 {
		t.Fatalf("kept click set a cookie: %q", setCookies(resp))
	}
	kept := h.rec.last(t)
	if kept.Outcome != firstclaim.OutcomeKept || !kept.ClaimExpiresAt.Equal(first.ClaimExpiresAt) {
		t.Fatalf("kept record = %+v", kept)
	}

	// §1.5: after the window, the next navigation claims afresh, for whoever it is.
	h.clock.add(15 * 24 * time.Hour)
	resp = h.get(t, "GET", "/r/b1", map[string]string{"Cookie": claimCookie})
	if sc := setCookies(resp); len(sc) != 1 || !strings.Contains(sc[0], "Max-Age=1296000") {
		t.Fatalf("expired claim: Set-Cookie %q, want a new claim", sc)
	}
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeClaimed || r.ClaimPartnerID != "partner-b" || r.Tampered {
		t.Fatalf("after expiry = %+v", r)
	}
}

// §1.6: a cookie that does not verify is no claim; the click claims and says it was tampered with.
func TestForgedCookieClaimsAfresh(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	resp := h.get(t, "GET", "/r/a1", nil)
	v := cookieValue(setCookies(resp)[0])
	name, value, _ := strings.Cut(v, "=")
	// Rewrite the partner in the payload: the signature no longer matches.
	parts := strings.Split(value, ".")
	p := []byte(parts[1])
	p[5] ^= 1 // one payload character changed
	forged := name + "=" + parts[0] + "." + string(p) + "." + parts[2]
	for _, c := range []string{forged, name + "=garbage", name + "=k9." + parts[1] + "." + parts[2]} {
		resp = h.get(t, "GET", "/r/b1", map[string]string{"Cookie": c})
		if len(setCookies(resp)) != 1 {
			t.Fatalf("cookie %q: want a fresh claim, got Set-Cookie %q", c, setCookies(resp))
		}
		if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeClaimed || !r.Tampered || r.ClaimPartnerID != "partner-b" {
			t.Fatalf("cookie %q: record = %+v", c, r)
		}
	}
}

// A claim cookie of one program is no claim in another: programs are independent.
func TestProgramsHaveOwnCookies(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	a := cookieValue(setCookies(h.get(t, "GET", "/r/a1", nil))[0])
	resp := h.get(t, "GET", "/r/amb", map[string]string{"Cookie": a})
	sc := setCookies(resp)
	if len(sc) != 1 || !strings.HasPrefix(sc[0], "fc_ambassador-2025=") || !strings.Contains(sc[0], "Max-Age=2592000") {
		t.Fatalf("ambassador link with an affiliate cookie: Set-Cookie %q", sc)
	}
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "https://cloud.example.com/buy?ref_click=") {
		t.Fatalf("Location %q: want the program's click parameter after the existing '?'", loc)
	}
	// The affiliate cookie value renamed to the ambassador cookie does not verify.
	_, val, _ := strings.Cut(a, "=")
	h.get(t, "GET", "/r/amb", map[string]string{"Cookie": "fc_ambassador-2025=" + val})
	if r := h.rec.last(t); !r.Tampered || r.Outcome != firstclaim.OutcomeClaimed {
		t.Fatalf("cross-program cookie: %+v", r)
	}
}

// §1.1: only a navigation claims; nothing else sets or changes a claim (cookie stuffing).
func TestOnlyNavigationsClaim(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	held := cookieValue(setCookies(h.get(t, "GET", "/r/a1", nil))[0])
	for _, tc := range []struct {
		name    string
		method  string
		headers map[string]string
		outcome firstclaim.Outcome
	}{
		{"image fetch", "GET", map[string]string{"Sec-Fetch-Dest": "image", "Sec-Fetch-Mode": "no-cors"}, firstclaim.OutcomeNotNavigation},
		{"iframe", "GET", map[string]string{"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Mode": "navigate"}, firstclaim.OutcomeNotNavigation},
		{"script", "GET", map[string]string{"Sec-Fetch-Dest": "script"}, firstclaim.OutcomeNotNavigation},
		{"fetch()", "GET", map[string]string{"Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors"}, firstclaim.OutcomeNotNavigation},
		{"POST", "POST", nil, firstclaim.OutcomeNotNavigation},
		{"HEAD", "HEAD", nil, firstclaim.OutcomeBot},
		{"Chrome prefetch", "GET", map[string]string{"Sec-Purpose": "prefetch"}, firstclaim.OutcomeBot},
		{"old prefetch", "GET", map[string]string{"Purpose": "prefetch"}, firstclaim.OutcomeBot},
		{"Slackbot", "GET", map[string]string{"User-Agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"}, firstclaim.OutcomeBot},
		{"facebookexternalhit", "GET", map[string]string{"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"}, firstclaim.OutcomeBot},
		{"Twitterbot", "GET", map[string]string{"User-Agent": "Twitterbot/1.0"}, firstclaim.OutcomeBot},
		{"no user agent", "GET", map[string]string{"User-Agent": ""}, firstclaim.OutcomeBot},
	} {
		for _, withCookie := range []bool{false, true} {
			hdr := map[string]string{}
			for k, v := range tc.headers {
				hdr[k] = v
			}
			if withCookie {
				hdr["Cookie"] = held
			}
			resp := h.get(t, tc.method, "/r/b1", hdr)
			if len(setCookies(resp)) != 0 {
				t.Errorf("%s (cookie %v): set a cookie %q", tc.name, withCookie, setCookies(resp))
			}
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "https://shop.example.com/?click_id=") {
				t.Errorf("%s: status %d Location %q; want the same redirect as a navigation", tc.name, resp.StatusCode, resp.Header.Get("Location"))
			}
			r := h.rec.last(t)
			if r.Outcome != tc.outcome {
				t.Errorf("%s: outcome %v, want %v", tc.name, r.Outcome, tc.outcome)
			}
			if withCookie && r.ClaimPartnerID != "partner-a" {
				t.Errorf("%s: record does not name the live claim: %+v", tc.name, r)
			}
		}
	}
	// A real navigation with Fetch Metadata claims.
	resp := h.get(t, "GET", "/r/b1", map[string]string{"Sec-Fetch-Dest": "document", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site"})
	if len(setCookies(resp)) != 1 {
		t.Fatalf("navigation did not claim")
	}
}

func TestUnknownAndInactiveLinks(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	for _, tc := range []struct {
		path   string
		status int
		loc    string
	}{
		{"/r/off", 410, ""},
		{"/r/old", 410, ""},
		{"/r/fb", 302, "https://shop.example.com/sorry"},
	} {
		for _, m := range []string{"GET", "HEAD"} {
			resp := h.get(t, m, tc.path, nil)
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.loc || len(setCookies(resp)) != 0 {
				t.Errorf("%s %s: status %d Location %q Set-Cookie %q", m, tc.path, resp.StatusCode, resp.Header.Get("Location"), setCookies(resp))
			}
			if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeInactiveLink || r.Link != strings.TrimPrefix(tc.path, "/r/") {
				t.Errorf("%s %s: outcome %v link %q", m, tc.path, r.Outcome, r.Link)
			}
		}
	}
	// Codes that are no link answer 404 and are counted by code, not recorded as clicks.
	clicks := h.rec.count()
	for _, path := range []string{"/r/nope", "/r/nope", "/r/wp-login.php", "/r/bad%20code", "/r/" + strings.Repeat("x", 300)} {
		if resp := h.get(t, "GET", path, nil); resp.StatusCode != 404 || len(setCookies(resp)) != 0 {
			t.Errorf("%s: status %d, Set-Cookie %q", path, resp.StatusCode, setCookies(resp))
		}
	}
	if resp := h.get(t, "GET", "/nothing", nil); resp.StatusCode != 404 {
		t.Errorf("/nothing: %d", resp.StatusCode)
	}
	if n := h.rec.count(); n != clicks {
		t.Fatalf("%d clicks recorded for codes that are no link", n-clicks)
	}
	h.srv.Close() // hands over the current minute's counts
	got := map[string]uint64{}
	for _, u := range h.rec.codes {
		got[u.Code] += u.Hits
		if u.ID == "" || u.FirstSeen.After(u.LastSeen) || u.Minute.IsZero() {
			t.Errorf("unknown code row %+v", u)
		}
	}
	if want := map[string]uint64{"nope": 2, "wp-login.php": 1, firstclaim.CodeInvalid: 2}; !maps.Equal(got, want) {
		t.Fatalf("unknown codes counted %v, want %v", got, want)
	}
}

// A flood of made-up codes costs a record per code and minute, never one per request, and stops
// counting codes one by one past the minute's budget: real clicks keep their room.
func TestUnknownCodeFloodIsBounded(t *testing.T) {
	h := newHarness(t, nil)
	for i := 0; i < 50_000; i++ {
		ctx := request("GET", fmt.Sprintf("/r/made-up-%d", i%5_000), nil)
		h.srv.Handler(ctx)
	}
	h.srv.Close()
	var hits, other uint64
	for _, u := range h.rec.codes {
		hits += u.Hits
		if u.Code == firstclaim.CodeOther {
			other += u.Hits
		}
	}
	if hits != 50_000 || len(h.rec.codes) > unknownPerMinute+2 || other == 0 {
		t.Fatalf("%d records for 50,000 requests (%d hits, %d as other); want at most %d records, every hit counted",
			len(h.rec.codes), hits, other, unknownPerMinute+2)
	}
	if h.rec.count() != 0 {
		t.Fatalf("%d clicks recorded", h.rec.count())
	}
}

func TestLocation(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	for _, tc := range []struct{ path, want string }{
		// The visitor's query passes through before the click id; the fragment stays last.
		{"/r/a1?utm_source=news&utm_medium=email", "https://shop.example.com/landing?src=aff&utm_source=news&utm_medium=email&click_id=ID#top"},
		// Nobody but the redirector sets the click id.
		{"/r/b1?click_id=forged&x=1", "https://shop.example.com/?x=1&click_id=ID"},
		// Nor under another spelling of its name: encoded, in capitals, or both.
		{"/r/b1?click%5Fid=evil&CLICK_ID=evil&Click%5fId=evil&x=1&click_idx=kept", "https://shop.example.com/?x=1&click_idx=kept&click_id=ID"},
		// Bytes that may not appear in a URL are escaped: no header or fragment injection.
		{"/r/b1?q=%0d%0aSet-Cookie:x", "https://shop.example.com/?q=%0d%0aSet-Cookie:x&click_id=ID"},
		{"/r/b1?a=<script>&b=\"", "https://shop.example.com/?a=%3Cscript%3E&b=%22&click_id=ID"},
		{"/r/b1?a=%zz&&b=", "https://shop.example.com/?a=%25zz&b=&click_id=ID"},
	} {
		resp := h.get(t, "GET", tc.path, nil)
		id := h.rec.last(t).ID
		if got, want := resp.Header.Get("Location"), strings.Replace(tc.want, "ID", id, 1); got != want {
			t.Errorf("%s:\n got  %s\n want %s", tc.path, got, want)
		}
	}
}

func TestNetworkClickIDCarriedInTheClaim(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	resp := h.get(t, "GET", "/r/net?irclickid=IR-123&utm_source=x", nil)
	r := h.rec.last(t)
	if r.NetworkParam != "irclickid" || r.NetworkClickID != "IR-123" {
		t.Fatalf("record = %+v", r)
	}
	// The claim cookie carries it: a later kept click still knows it.
	c := cookieValue(setCookies(resp)[0])
	h.get(t, "GET", "/r/net", map[string]string{"Cookie": c})
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeKept || r.NetworkClickID != "IR-123" {
		t.Fatalf("kept click = %+v", r)
	}
}

func TestCookieAttributesConfigured(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.Cookie = cookie.Attributes{Domain: "example.com", SameSite: cookie.SameSiteNone}
	})
	h.serve(t)
	sc := setCookies(h.get(t, "GET", "/r/a1", nil))[0]
	for _, want := range []string{"Domain=example.com", "Secure", "SameSite=None"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
}

func TestClaimRateLimitAndGPC(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.ClaimLimit = 3; o.HonorGPC = true })
	h.serve(t)
	if resp := h.get(t, "GET", "/r/a1", map[string]string{"Sec-GPC": "1"}); len(setCookies(resp)) != 0 {
		t.Fatal("Sec-GPC: 1 got a claim cookie")
	}
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeOptedOut || !r.GPC {
		t.Fatalf("GPC record = %+v", r)
	}
	for i := 0; i < 3; i++ {
		if resp := h.get(t, "GET", "/r/a1", nil); len(setCookies(resp)) != 1 {
			t.Fatalf("claim %d refused under the limit", i+1)
		}
	}
	resp := h.get(t, "GET", "/r/a1", nil)
	if resp.StatusCode != 302 || len(setCookies(resp)) != 0 {
		t.Fatalf("4th claim from one address: status %d, Set-Cookie %q", resp.StatusCode, setCookies(resp))
	}
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeRateLimited || !r.RateLimited {
		t.Fatalf("rate-limited record = %+v", r)
	}
	h.clock.add(time.Minute)
	if resp := h.get(t, "GET", "/r/a1", nil); len(setCookies(resp)) != 1 {
		t.Fatal("next window still limited")
	}
}

func TestClientAddress(t *testing.T) {
	trusted, _ := ParsePrefixes("10.0.0.0/8, 192.168.1.1")
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		remote, fwd, xff, want string
	}{
		{"203.0.113.9", "", "1.2.3.4", "203.0.113.9"},                      // untrusted peer: headers ignored
		{"10.1.1.1", "", "1.2.3.4", "1.2.3.4"},                             // trusted proxy
		{"10.1.1.1", "", "6.6.6.6, 1.2.3.4, 10.9.9.9", "1.2.3.4"},          // right-most untrusted wins; spoofed left part ignored
		{"10.1.1.1", "", "garbage", "10.1.1.1"},                            // unparsable: keep the peer
		{"10.1.1.1", "", "2001:db8::1", "2001:db8::1"},                     // IPv6
		{"10.1.1.1", `for="[2001:db8::7]:4711"`, "1.2.3.4", "2001:db8::7"}, // Forwarded wins
		{"10.1.1.1", "for=192.0.2.60;proto=http, for=10.2.2.2", "", "192.0.2.60"},
		{"10.1.1.1", `for="192.0.2.61:8080"`, "", "192.0.2.61"},
		{"192.168.1.1", "", "::ffff:1.2.3.4", "1.2.3.4"},
	} {
		got := clientAddr(ip(tc.remote), trusted, []byte(tc.fwd), []byte(tc.xff))
		if got != ip(tc.want) {
			t.Errorf("remote %s Forwarded %q XFF %q: %v, want %s", tc.remote, tc.fwd, tc.xff, got, tc.want)
		}
	}
}

func TestLinksFileRefusedWithLine(t *testing.T) {
	links, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"code,url,partner,program\nok,https://a.example/,p,affiliate\nx,javascript:alert(1),p,affiliate\n", ":3: url: URL scheme \"javascript\""},
		{"code,url,partner,program\nx,/relative,p,affiliate\n", ":2: url: URL \"/relative\" is relative"},
		{"code,url,partner,program\nx,\"https://a.example/\r\nSet-Cookie: a=b\",p,affiliate\n", ":2: url: URL has a control or space character"},
		{"code,url,partner,program\nx,https://user:pw@a.example/,p,affiliate\n", "carries credentials"},
		{"code,url,partner,program\nx,https:///nohost,p,affiliate\n", "has no host"},
		{"code,url,partner,program\nbad code,https://a.example/,p,affiliate\n", ":2: code \"bad code\""},
		{"code,url,partner,program\nx,https://a.example/,p,nosuch\n", ":2: program \"nosuch\" is not configured"},
		{"code,url,partner,program\nx,https://a.example/,p,affiliate\nx,https://b.example/,p,affiliate\n", ":3: code \"x\" is already on line 2"},
		{"code,url,partner,program,status\nx,https://a.example/,p,affiliate,paused\n", ":2: status \"paused\""},
		{"code,url,program\nx,https://a.example/,affiliate\n", ":1: header has no \"partner\" column"},
		{"code,url,partner,program,expires_at\nx,https://a.example/,p,affiliate,tomorrow\n", ":2: expires_at \"tomorrow\""},
		{"[{\"code\":\"x\",\"url\":\"https://a.example/\",\"partner\":\"p\",\"program\":\"affiliate\"},\n {\"code\":\"y\",\"url\":\"ftp://a.example/\",\"partner\":\"p\",\"program\":\"affiliate\"}]", ":2: url: URL scheme \"ftp\""},
		{"[{\"code\":\"x\",\"colour\":\"red\"}]", "unknown field \"colour\""},
	} {
		p := writeFile(t, dir, "links.csv", tc.content)
		err := links.Load(p)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), p) {
			t.Errorf("content %q: error %v, want file name and %q", tc.content, err, tc.want)
		}
	}
}

func TestReloadKeepsServing(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	if resp := h.get(t, "GET", "/r/a1", nil); resp.StatusCode != 302 {
		t.Fatal(resp.StatusCode)
	}
	// A bad file: refused, the last good set keeps serving.
	writeFile(t, t.TempDir(), "x", "")
	if err := osWrite(h.path, "code,url,partner,program\nz,javascript:x,p,affiliate\n"); err != nil {
		t.Fatal(err)
	}
	if err := h.links.Load(h.path); err == nil {
		t.Fatal("bad file accepted")
	}
	if resp := h.get(t, "GET", "/r/a1", nil); resp.StatusCode != 302 {
		t.Fatalf("after a refused reload a1 answers %d", resp.StatusCode)
	}
	// A good file with a new link and a1 gone: served at once, though the code was unknown before.
	h.get(t, "GET", "/r/new", nil)
	if err := osWrite(h.path, "code,url,partner,program\nnew,https://n.example/,p,affiliate\n"); err != nil {
		t.Fatal(err)
	}
	if err := h.links.Load(h.path); err != nil {
		t.Fatal(err)
	}
	if resp := h.get(t, "GET", "/r/new", nil); resp.StatusCode != 302 || !strings.HasPrefix(resp.Header.Get("Location"), "https://n.example/") {
		t.Fatalf("new link after reload: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp := h.get(t, "GET", "/r/a1", nil); resp.StatusCode != 404 {
		t.Fatalf("removed link still answers %d", resp.StatusCode)
	}
}

// Reloading while requests run drops none of them.
func TestReloadUnderLoad(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	done := make(chan struct{})
	errs := make(chan string, 100)
	for w := 0; w < 4; w++ {
		go func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				req, _ := http.NewRequest("GET", h.addr+"/r/a1", nil)
				req.Header.Set("User-Agent", browserUA)
				resp, err := client.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 302 {
					errs <- resp.Status
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		content := testLinks
		if i%2 == 1 {
			content += "extra,https://x.example/,p,affiliate,,,\n"
		}
		if err := osWrite(h.path, content); err != nil {
			t.Fatal(err)
		}
		if err := h.links.Load(h.path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(done)
	select {
	case e := <-errs:
		t.Fatalf("a request failed during reloads: %s", e)
	default:
	}
	if h.rec.count() < 10 {
		t.Fatalf("only %d requests ran", h.rec.count())
	}
}

func TestWatchReloadsOnChange(t *testing.T) {
	h := newHarness(t, nil)
	ctx, cancel := contextWithCancel()
	defer cancel()
	go h.links.Watch(ctx, h.path, 10*time.Millisecond)
	time.Sleep(30 * time.Millisecond)
	if err := osWrite(h.path, testLinks+"watched,https://w.example/,p,affiliate,,,\n"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e := (entry{}); !h.links.lookup([]byte("watched"), &e); {
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not reload the changed file")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	h.get(t, "GET", "/r/a1", nil)
	h.get(t, "GET", "/r/nope", nil)
	h.get(t, "GET", "/r/nope", nil)
	var buf bytes.Buffer
	h.srv.opts.Metrics.WritePrometheus(&buf)
	for _, want := range []string{
		`firstclaim_requests_total{outcome="claimed"} 1`,
		`firstclaim_requests_total{outcome="unknown_link"} 2`,
		`firstclaim_redirect_duration_seconds_count 3`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// requestCtx builds a request for calling the handler in-process.
// It is parsed from the wire, as the server receives it.
func requestCtx(t testing.TB, uri, cookieHeader string) *fasthttp.RequestCtx {
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	raw := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: " + browserUA +
		"\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\n"
	if cookieHeader != "" {
		raw += "Cookie: " + cookieHeader + "\r\n"
	}
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw + "\r\n"))); err != nil {
		t.Fatal(err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &netAddr, nil)
	return ctx
}

func warmCases(t testing.TB, h *harness) map[string]*fasthttp.RequestCtx {
	claim := requestCtx(t, "http://go.example/r/a1?utm_source=x", "")
	h.srv.Handler(claim)
	c := string(claim.Response.Header.PeekCookie("fc_affiliate"))
	cookieHdr := strings.SplitN(c, ";", 2)[0]
	return map[string]*fasthttp.RequestCtx{
		"new_claim": requestCtx(t, "http://go.example/r/a1?utm_source=x", ""),
		"kept":      requestCtx(t, "http://go.example/r/a2", cookieHdr),
		"protected": requestCtx(t, "http://go.example/r/b1", cookieHdr),
		"unknown":   requestCtx(t, "http://go.example/r/nope", ""),
	}
}

// The redirect path allocates nothing once warm: new claims, existing claims, unknown codes.
func TestRedirectAllocatesNothing(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Recorder = &discard{} })
	for name, ctx := range warmCases(t, h) {
		for i := 0; i < 10; i++ {
			ctx.Response.Reset()
			h.srv.Handler(ctx)
		}
		allocs := testing.AllocsPerRun(500, func() {
			ctx.Response.Reset()
			h.srv.Handler(ctx)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request", name, allocs)
		}
		if ctx.Response.StatusCode() != 302 && name != "unknown" {
			t.Errorf("%s: status %d", name, ctx.Response.StatusCode())
		}
	}
}

func BenchmarkRedirect(b *testing.B) {
	h := newHarness(b, func(o *Options) { o.Recorder = &discard{} })
	for name, proto := range warmCases(b, h) {
		uri := string(proto.Request.URI().FullURI())
		ck := string(proto.Request.Header.Peek("Cookie"))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := requestCtx(b, uri, ck)
				for pb.Next() {
					ctx.Response.Reset()
					h.srv.Handler(ctx)
				}
			})
		})
	}
}

func FuzzLinkCode(f *testing.F) {
	h := newHarness(f, func(o *Options) { o.Recorder = &discard{} })
	for _, s := range []string{"a1", "", "../etc", "a%00", strings.Repeat("z", 200), "a1/", "ÿ"} {
		f.Add(s, "utm=1")
	}
	f.Fuzz(func(t *testing.T, code, query string) {
		ctx := &fasthttp.RequestCtx{}
		var req fasthttp.Request
		req.Header.SetMethod("GET")
		req.Header.SetRequestURIBytes(append(append([]byte("/r/"), url.PathEscape(code)...), append([]byte("?"), query...)...))
		req.Header.Set("User-Agent", browserUA)
		ctx.Init(&req, &netAddr, nil)
		h.srv.Handler(ctx) // must not panic
		switch st := ctx.Response.StatusCode(); st {
		case 302:
			loc := ctx.Response.Header.Peek("Location")
			if !bytes.HasPrefix(loc, []byte("https://")) || bytes.ContainsAny(loc, " \r\n\t\"<>") {
				t.Fatalf("code %q query %q: Location %q", code, query, loc)
			}
		case 404, 410:
		default:
			t.Fatalf("code %q: status %d", code, st)
		}
	})
}

// Header names are case-insensitive: whatever case a client or proxy sends them in, the request
// path reads them (it looks them up in the server's canonical form).
func TestHeaderNamesInAnyCase(t *testing.T) {
	h := newHarness(t, func(o *Options) {
		o.HonorGPC = true
		o.TrustedProxies, _ = ParsePrefixes("127.0.0.1")
	})
	h.serve(t)
	addr := strings.TrimPrefix(h.addr, "http://")
	send := func(extra string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /r/a1 HTTP/1.1\r\nHost: go.example\r\nuser-agent: %s\r\n%sConnection: close\r\n\r\n", browserUA, extra)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Fatalf("%q: status %d", extra, resp.StatusCode)
		}
	}
	for _, tc := range []struct {
		header string
		check  func(r firstclaim.Click) bool
	}{
		{"sec-gpc: 1\r\n", func(r firstclaim.Click) bool { return r.GPC && r.Outcome == firstclaim.OutcomeOptedOut }},
		{"SEC-GPC: 1\r\n", func(r firstclaim.Click) bool { return r.GPC && r.Outcome == firstclaim.OutcomeOptedOut }},
		{"sec-fetch-dest: image\r\n", func(r firstclaim.Click) bool { return r.Outcome == firstclaim.OutcomeNotNavigation }},
		{"SEC-FETCH-MODE: cors\r\n", func(r firstclaim.Click) bool { return r.Outcome == firstclaim.OutcomeNotNavigation }},
		{"sec-purpose: prefetch;prerender\r\n", func(r firstclaim.Click) bool { return r.Outcome == firstclaim.OutcomeBot }},
		{"purpose: prefetch\r\n", func(r firstclaim.Click) bool { return r.Outcome == firstclaim.OutcomeBot }},
		{"x-moz: prefetch\r\n", func(r firstclaim.Click) bool { return r.Outcome == firstclaim.OutcomeBot }},
		{"x-forwarded-for: 198.51.100.23\r\n", func(r firstclaim.Click) bool { return r.IP == netip.MustParseAddr("198.51.100.23") }},
		{"FORWARDED: for=\"[2001:db8::9]\"\r\n", func(r firstclaim.Click) bool { return r.IP == netip.MustParseAddr("2001:db8::9") }},
	} {
		send(tc.header)
		if r := h.rec.last(t); !tc.check(r) {
			t.Errorf("%q not read: %+v", tc.header, r)
		}
	}
}

// Cookie tossing: a sibling subdomain sets a cookie of the claim's name with a longer Path, which
// the browser sends first. Every cookie of the name is verified, and the real, live claim still
// protects the visitor; with only bogus ones, the click claims and says it saw tampering.
func TestTossedCookieCannotHideTheClaim(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	resp := h.get(t, "GET", "/r/a1", nil) // partner-a claims
	real := cookieValue(setCookies(resp)[0])
	tossed := "fc_affiliate=k1.Zm9yZ2Vk.Zm9yZ2Vk"
	resp = h.get(t, "GET", "/r/b1", map[string]string{"Cookie": tossed + "; " + real})
	if len(setCookies(resp)) != 0 {
		t.Fatalf("partner-b took the claim past a tossed cookie: %q", setCookies(resp))
	}
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeProtected || r.ClaimPartnerID != "partner-a" || r.Tampered {
		t.Fatalf("click %+v", r)
	}
	resp = h.get(t, "GET", "/r/b1", map[string]string{"Cookie": tossed + "; fc_affiliate=also.bogus.value"})
	if len(setCookies(resp)) != 1 {
		t.Fatal("bogus cookies alone: no claim made")
	}
	if r := h.rec.last(t); r.Outcome != firstclaim.OutcomeClaimed || !r.Tampered {
		t.Fatalf("click %+v", r)
	}
}
