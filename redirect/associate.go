package redirect

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/cookie"
)

// AssociationOptions configure how merchants report sign-ups and log-ins (docs/rules.md §2).
type AssociationOptions struct {
	// PixelSecret is shared with the merchant: the pixel's parameters are signed with it. Without it
	// the pixel refuses everything.
	PixelSecret []byte
	// PixelMaxAge is how long after its signed time a pixel is accepted; default 5 minutes. A time
	// more than pixelFutureSkew ahead of this server's clock is refused.
	PixelMaxAge time.Duration
	// Token is the bearer token of POST /v1/associations. Without it the API answers 403.
	Token string
}

// The association pixel's transparent 1×1 GIF.
var gif1x1 = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

var (
	pathAssocPixel = []byte("/px/assoc.gif")
	pathAssocAPI   = []byte("/v1/associations")
)

// PixelSignature is what the merchant puts in the pixel's sig parameter: hex HMAC-SHA256 under
// the shared secret of "firstclaim-assoc-v1", the account, the kind and the time (Unix seconds),
// joined by newlines, and, when the pixel names a program, a newline and the program (so that a
// program cannot be added to, or changed in, a signed pixel). Without a program the text is what
// it always was.
func PixelSignature(secret []byte, account, kind, ts, program string) string {
	m := hmac.New(sha256.New, secret)
	text := "firstclaim-assoc-v1\n" + account + "\n" + kind + "\n" + ts
	if program != "" {
		text += "\n" + program
	}
	m.Write([]byte(text))
	return hex.EncodeToString(m.Sum(nil))
}

// pixelFutureSkew is how far ahead of this server's clock a pixel's signed time may be: the
// merchant's clock may run a little fast, but a pixel signed for later is not valid now.
const pixelFutureSkew = 30 * time.Second

// replayGuard remembers the signatures of accepted pixels for as long as they could be accepted,
// so that each is accepted once: a signed pixel copied from a page cannot bind the account to
// whoever replays it with a claim of their own. Two generations of a map of signature hashes, each
// at most max entries, the older dropped when the newer is a window old or full (then a signature
// could outlive its memory only if more than max pixels came within a window). Per redirector: see
// README, "Several edges". Safe for concurrent use.
type replayGuard struct {
	mu        sync.Mutex
	cur, prev map[uint64]struct{}
	since     time.Time
	window    time.Duration
	max       int
	seed      maphash.Seed
}

func newReplayGuard(window time.Duration, max int) *replayGuard {
	return &replayGuard{cur: map[uint64]struct{}{}, prev: map[uint64]struct{}{}, window: window, max: max, seed: maphash.MakeSeed()}
}

// first records sig and reports whether it was not seen before.
func (g *replayGuard) first(sig []byte, now time.Time) bool {
	h := maphash.Bytes(g.seed, bytes.ToLower(sig))
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.cur[h]; ok {
		return false
	}
	if _, ok := g.prev[h]; ok {
		return false
	}
	if g.since.IsZero() {
		g.since = now
	}
	if now.Sub(g.since) >= g.window || len(g.cur) >= g.max {
		clear(g.prev)
		g.prev, g.cur, g.since = g.cur, g.prev, now
	}
	g.cur[h] = struct{}{}
	return true
}

type assocMetrics struct {
	recorded map[string]*metrics.Counter
	rejected map[string]*metrics.Counter
}

var rejectReasons = []string{"unsigned", "bad_signature", "stale", "future", "replayed", "bad_request", "forged_cookie", "no_claim",
	"expired_claim", "unauthorized"}

func newAssocMetrics(m *metrics.Set) *assocMetrics {
	a := &assocMetrics{recorded: map[string]*metrics.Counter{}, rejected: map[string]*metrics.Counter{}}
	for _, src := range []string{"pixel", "s2s"} {
		a.recorded[src] = m.NewCounter(`firstclaim_associations_total{source="` + src + `"}`)
		for _, r := range rejectReasons {
			a.rejected[src+r] = m.NewCounter(`firstclaim_association_rejections_total{source="` + src + `",reason="` + r + `"}`)
		}
	}
	return a
}

func (a *assocMetrics) reject(src, reason string) { a.rejected[src+reason].Inc() }

// assocPixel answers GET /px/assoc.gif?account=…&kind=register|login&ts=UNIX&sig=HEX[&program=P]
// on the merchant's page: for each program whose live claim cookie the visitor carries (only P when
// given), it records an association. A pixel is accepted once, from a signed time no older than
// PixelMaxAge and not ahead of this server's clock by more than pixelFutureSkew. It always answers
// the GIF, never cached, whatever happened.
func (s *Server) assocPixel(ctx *fasthttp.RequestCtx) {
	defer pixel(ctx)
	now := s.timeOf(ctx)
	args := ctx.QueryArgs()
	account, kind, ts, sig := string(args.Peek("account")), string(args.Peek("kind")), string(args.Peek("ts")), args.Peek("sig")
	only := string(args.Peek("program"))
	if len(s.opts.Associations.PixelSecret) == 0 || len(sig) == 0 {
		s.assoc.reject("pixel", "unsigned")
		return
	}
	want := PixelSignature(s.opts.Associations.PixelSecret, account, kind, ts, only)
	if subtle.ConstantTimeCompare([]byte(want), bytes.ToLower(sig)) != 1 {
		s.assoc.reject("pixel", "bad_signature")
		return
	}
	if err := checkAssociation(account, kind); err != nil {
		s.assoc.reject("pixel", "bad_request")
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	signed := time.Unix(sec, 0)
	switch {
	case err != nil || now.Sub(signed) > s.opts.Associations.PixelMaxAge:
		s.assoc.reject("pixel", "stale")
		return
	case signed.Sub(now) > pixelFutureSkew:
		s.assoc.reject("pixel", "future")
		return
	case !s.replays.first(sig, now):
		s.assoc.reject("pixel", "replayed")
		return
	}
	progs := s.links.programs
	names := make([]string, 0, len(progs))
	for n := range progs {
		if only == "" || n == only {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	found := false
	var vals [][]byte
	for _, name := range names {
		p := progs[name]
		// Every cookie of the program's name (a tossed one may come first): the first that verifies
		// and was live at the signed time is the claim.
		if vals = requestCookies(vals[:0], &ctx.Request.Header, p.cookieName); len(vals) == 0 {
			continue
		}
		found = true
		verified, recorded := false, false
		for _, raw := range vals {
			var claim cookie.Claim
			if _, err := s.signer.Verify(nil, p.Name, raw, &claim); err != nil {
				continue
			}
			verified = true
			if at, ok := liveAt(&claim, signed); ok && claim.Live(now) {
				s.recordAssociation("pixel", p.Name, account, kind, at, &claim)
				recorded = true
				break
			}
		}
		switch {
		case !verified:
			s.assoc.reject("pixel", "forged_cookie")
		case !recorded:
			s.assoc.reject("pixel", "expired_claim")
		}
	}
	if !found {
		s.assoc.reject("pixel", "no_claim")
	}
}

// pixel writes the transparent GIF with headers that forbid every cache.
func pixel(ctx *fasthttp.RequestCtx) {
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.Response.Header.SetContentType("image/gif")
	ctx.Response.Header.Set("Cache-Control", "no-store, no-cache, must-revalidate, private, max-age=0")
	ctx.Response.Header.Set("Pragma", "no-cache")
	ctx.Response.Header.Set("Expires", "0")
	ctx.Response.SetBodyRaw(gif1x1)
}

// clockSkew is how far a merchant's clock may be behind ours: an association reported up to this
// long before the claim began is taken as made when it began.
const clockSkew = 5 * time.Minute

// liveAt reports whether the claim was live at ts (docs/rules.md §2.3: claimed-at <= ts < expires-at),
// and the time to record, moved up to the claim's start within the allowed clock skew.
func liveAt(c *cookie.Claim, ts time.Time) (time.Time, bool) {
	if ts.Before(c.ClaimedAt) {
		if c.ClaimedAt.Sub(ts) > clockSkew {
			return ts, false
		}
		ts = c.ClaimedAt
	}
	return ts, ts.Before(c.ExpiresAt)
}

func checkAssociation(account, kind string) error {
	if account == "" || len(account) > 256 || strings.ContainsAny(account, "\x00\r\n") {
		return errors.New("account_id: want 1 to 256 characters, no control characters")
	}
	if kind != firstclaim.KindRegister && kind != firstclaim.KindLogin {
		return fmt.Errorf("kind %q: want register or login", kind)
	}
	return nil
}

// recordAssociation hands an association to the recorder. Its id is made from what it reports, so a
// pixel loaded twice (a reload) or a call retried is one association.
func (s *Server) recordAssociation(source, program, account, kind string, ts time.Time, claim *cookie.Claim) string {
	a := firstclaim.Association{TS: ts, Program: program, AccountID: account, Kind: kind, Source: source}
	if claim != nil {
		a.PartnerID, a.ClickID, a.Link = claim.PartnerID, claim.ClickID, claim.Link
		a.ClaimedAt, a.ClaimExpiresAt, a.NetworkClickID = claim.ClaimedAt, claim.ExpiresAt, claim.NetworkClickID
	}
	return s.record(a)
}

func (s *Server) record(a firstclaim.Association) string {
	h := sha256.Sum256([]byte(strings.Join([]string{a.Program, a.AccountID, a.Kind, strconv.FormatInt(a.TS.Unix(), 10), a.ClickID}, "\x00")))
	a.ID = "as-" + hex.EncodeToString(h[:16])
	s.rec.Record(firstclaim.AppendAssociation(nil, &a))
	s.assoc.recorded[a.Source].Inc()
	return a.ID
}

// associationRequest is the body of POST /v1/associations.
type associationRequest struct {
	Program   string `json:"program"`
	AccountID string `json:"account_id"`
	Kind      string `json:"kind"`
	TS        string `json:"ts"`     // RFC 3339; default now
	Cookie    string `json:"cookie"` // the value of the visitor's fc_PROGRAM cookie ...
	ClickID   string `json:"click_id"`
}

// assocAPI answers POST /v1/associations (server to server, bearer token): the merchant's server
// reports an account with the visitor's claim cookie or the click id it received in the redirect.
// A cookie is verified here; a click id is resolved against the recorded clicks by the attribution
// job.
func (s *Server) assocAPI(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	fail := func(status int, reason, msg string) {
		s.assoc.reject("s2s", reason)
		ctx.SetStatusCode(status)
		b, _ := json.Marshal(map[string]string{"error": msg})
		ctx.SetBody(b)
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		fail(fasthttp.StatusMethodNotAllowed, "bad_request", "use POST")
		return
	}
	token := s.opts.Associations.Token
	if token == "" {
		fail(fasthttp.StatusForbidden, "unauthorized", "the association API is off: start the server with --association-token")
		return
	}
	auth := ctx.Request.Header.Peek("Authorization")
	if !bytes.HasPrefix(auth, []byte("Bearer ")) || subtle.ConstantTimeCompare(auth[7:], []byte(token)) != 1 {
		ctx.Response.Header.Set("WWW-Authenticate", `Bearer realm="firstclaim"`)
		fail(fasthttp.StatusUnauthorized, "unauthorized", "missing or wrong bearer token")
		return
	}
	var req associationRequest
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		fail(fasthttp.StatusBadRequest, "bad_request", "body: "+err.Error())
		return
	}
	if _, err := dec.Token(); err != io.EOF {
		fail(fasthttp.StatusBadRequest, "bad_request", "body: want one JSON object, found more after it")
		return
	}
	if err := checkAssociation(req.AccountID, req.Kind); err != nil {
		fail(fasthttp.StatusBadRequest, "bad_request", err.Error())
		return
	}
	p, ok := s.links.programs[req.Program]
	if !ok {
		fail(fasthttp.StatusBadRequest, "bad_request", fmt.Sprintf("program %q is not configured", req.Program))
		return
	}
	now := s.timeOf(ctx)
	ts := now
	if req.TS != "" {
		t, err := time.Parse(time.RFC3339Nano, req.TS)
		if err != nil {
			fail(fasthttp.StatusBadRequest, "bad_request", fmt.Sprintf("ts %q: want RFC 3339", req.TS))
			return
		}
		if t.After(now.Add(5 * time.Minute)) {
			fail(fasthttp.StatusBadRequest, "bad_request", "ts is in the future")
			return
		}
		if t.Before(now.AddDate(-1, 0, 0)) {
			fail(fasthttp.StatusBadRequest, "bad_request", fmt.Sprintf("ts %q is more than a year ago: report associations as they happen", req.TS))
			return
		}
		ts = t
	}
	var id string
	switch {
	case req.Cookie != "":
		var claim cookie.Claim
		if _, err := s.signer.Verify(nil, p.Name, []byte(req.Cookie), &claim); err != nil {
			fail(fasthttp.StatusUnprocessableEntity, "forged_cookie", "the cookie does not verify for program "+p.Name)
			return
		}
		at, ok := liveAt(&claim, ts)
		if !ok {
			fail(fasthttp.StatusUnprocessableEntity, "expired_claim", "the claim in the cookie was not live at ts")
			return
		}
		id = s.recordAssociation("s2s", p.Name, req.AccountID, req.Kind, at, &claim)
	case req.ClickID != "":
		if len(req.ClickID) > 64 || strings.ContainsAny(req.ClickID, "\x00\r\n") {
			fail(fasthttp.StatusBadRequest, "bad_request", "click_id: at most 64 characters")
			return
		}
		id = s.record(firstclaim.Association{TS: ts, Program: p.Name, AccountID: req.AccountID, Kind: req.Kind,
			ClickID: req.ClickID, Source: "s2s"})
	default:
		fail(fasthttp.StatusBadRequest, "no_claim", "give the visitor's claim cookie (cookie) or the click id (click_id)")
		return
	}
	ctx.SetStatusCode(fasthttp.StatusAccepted)
	b, _ := json.Marshal(map[string]string{"association_id": id})
	ctx.SetBody(b)
}
