package redirect

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/VictoriaMetrics/metrics"
	"github.com/dchest/siphash"
	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/cookie"
)

// Recorder takes encoded event records (firstclaim.AppendClick and friends). Record must not
// block and must not keep rec after it returns.
type Recorder interface {
	Record(rec []byte)
}

// BotDetector tells crawlers and link-preview agents from browsers, by user agent.
type BotDetector interface {
	IsBot(userAgent []byte) bool
}

// Options configure a Server.
type Options struct {
	Links    *Links
	Signer   *cookie.Signer
	Cookie   cookie.Attributes
	Recorder Recorder
	Bots     BotDetector // nil: no user-agent checks

	TrustedProxies []netip.Prefix // X-Forwarded-For and Forwarded are believed only from these
	BotNetworks    []netip.Prefix // requests from these are bots
	HonorGPC       bool           // Sec-GPC: 1 means no claim cookie is set

	ClaimLimit       int           // claims per address per ClaimLimitWindow; 0: no limit
	ClaimLimitWindow time.Duration // default 1 minute

	// VisitorKey keys the hash of address and user agent that counts unique visitors. Servers
	// behind one load balancer share it so their visitors agree.
	VisitorKey [16]byte

	Associations AssociationOptions

	Metrics *metrics.Set
	Logger  *slog.Logger
	Now     func() time.Time // default: the time fasthttp read as the request came
}

// Server is the public edge: redirects, pixels and the association API, as fasthttp handlers.
// Nothing on its request path waits on I/O. Safe for concurrent use; several Servers can live in
// one process.
type Server struct {
	opts    Options
	links   *Links
	signer  *cookie.Signer
	rec     Recorder
	limiter *claimLimiter
	now     func() time.Time // Options.Now, or nil
	log     *slog.Logger
	k0, k1  uint64
	pool    sync.Pool
	ready   atomic.Bool
	unknown *unknownCodes
	replays *replayGuard // signatures of accepted association pixels

	stopUnknown context.CancelFunc
	unknownDone chan struct{}

	outcomes [16]*metrics.Counter
	tampered *metrics.Counter
	latency  *metrics.PrometheusHistogram
	notFound *metrics.Counter
	assoc    *assocMetrics

	impressions *metrics.Counter
	impRejected [impReasons]*metrics.Counter
}

// scratch is the per-request working memory, pooled so that a warm request allocates nothing.
type scratch struct {
	id       [firstclaim.IDLen]byte
	click    firstclaim.Click
	claim    cookie.Claim
	newClaim cookie.Claim
	claimBuf []byte
	loc      []byte
	value    []byte
	setCk    []byte
	rec      []byte
	vbuf     []byte
	cookies  [][]byte // the values of the program's claim cookies in the request
	entry    entry    // the link; the click's strings may point into it
}

// New returns a Server.
func New(opts Options) (*Server, error) {
	if opts.Links == nil || opts.Signer == nil || opts.Recorder == nil {
		return nil, errors.New("redirect: Links, Signer and Recorder are required")
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClaimLimitWindow <= 0 {
		opts.ClaimLimitWindow = time.Minute
	}
	s := &Server{
		opts: opts, links: opts.Links, signer: opts.Signer, rec: opts.Recorder, now: opts.Now, log: opts.Logger,
		limiter: newClaimLimiter(opts.ClaimLimit, opts.ClaimLimitWindow),
	}
	s.k0 = leUint64(opts.VisitorKey[:8])
	s.k1 = leUint64(opts.VisitorKey[8:])
	s.pool.New = func() any {
		return &scratch{
			claimBuf: make([]byte, 0, 512), loc: make([]byte, 0, 1024), value: make([]byte, 0, 512),
			setCk: make([]byte, 0, 768), rec: make([]byte, 0, 1024), vbuf: make([]byte, 0, 600),
		}
	}
	m := opts.Metrics
	for _, o := range firstclaim.Outcomes() {
		s.outcomes[o] = m.NewCounter(`firstclaim_requests_total{outcome="` + o.String() + `"}`)
	}
	s.tampered = m.NewCounter("firstclaim_tampered_cookies_total")
	s.notFound = m.NewCounter("firstclaim_not_found_total")
	s.latency = m.NewPrometheusHistogramExt("firstclaim_redirect_duration_seconds",
		[]float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 50e-3})
	s.assoc = newAssocMetrics(m)
	s.impressions = m.NewCounter("firstclaim_impressions_total")
	for i, r := range impReasonNames {
		s.impRejected[i] = m.NewCounter(`firstclaim_impression_rejections_total{reason="` + r + `"}`)
	}
	if s.opts.Associations.PixelMaxAge <= 0 {
		s.opts.Associations.PixelMaxAge = 5 * time.Minute
	}
	s.replays = newReplayGuard(s.opts.Associations.PixelMaxAge+pixelFutureSkew, 500_000)
	s.unknown = newUnknownCodes(opts.Recorder)
	ctx, cancel := context.WithCancel(context.Background())
	s.stopUnknown, s.unknownDone = cancel, make(chan struct{})
	go func() { defer close(s.unknownDone); s.unknown.run(ctx, time.Second) }()
	s.ready.Store(true)
	return s, nil
}

// Close hands over what the server still holds for the recorder (the unknown codes of the
// current minute). Call it after the listener has stopped, before the recorder closes.
func (s *Server) Close() {
	s.stopUnknown()
	<-s.unknownDone
}

// SetReady marks the server ready or not for /readyz (false while draining).
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// Ready reports what /readyz says.
func (s *Server) Ready() bool { return s.ready.Load() }

var (
	strLocation     = []byte("Location")
	strCacheControl = []byte("Cache-Control")
	strNoStore      = []byte("private, no-store")
	strSetCookie    = []byte("Set-Cookie")
	strRobots       = []byte("X-Robots-Tag")
	strNoIndex      = []byte("noindex, nofollow")
)

// Handler is the public fasthttp handler. The server must normalize header names (fasthttp does
// unless DisableHeaderNamesNormalizing is set): the request path looks headers up by their
// canonical names.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	switch {
	case len(path) > 3 && path[1] == 'r' && path[2] == '/' && path[0] == '/':
		s.redirect(ctx, path[3:])
	case bytes.Equal(path, pathImpressionPixel):
		s.impressionPixel(ctx)
	case bytes.Equal(path, pathAssocPixel):
		s.assocPixel(ctx)
	case bytes.Equal(path, pathAssocAPI):
		s.assocAPI(ctx)
	case bytes.Equal(path, pathHealth):
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	default:
		s.notFound.Inc()
		page(ctx, fasthttp.StatusNotFound, pageNotFound)
	}
}

var pathHealth = []byte("/healthz")

// Request header names in fasthttp's canonical form (a capital after each '-', the rest small),
// which is how the server stores them whatever case they arrived in. PeekCanonical with these skips
// the copy and normalization of the name that Peek does on every call; a redirect reads eight.
var (
	hdrForwarded     = []byte("Forwarded")
	hdrXForwardedFor = []byte("X-Forwarded-For")
	hdrSecPurpose    = []byte("Sec-Purpose")
	hdrPurpose       = []byte("Purpose")
	hdrXMoz          = []byte("X-Moz")
	hdrSecFetchDest  = []byte("Sec-Fetch-Dest")
	hdrSecFetchMode  = []byte("Sec-Fetch-Mode")
	hdrSecGPC        = []byte("Sec-Gpc")
)

// request facts shared by the redirect and the pixels.
func (s *Server) visitorOf(ctx *fasthttp.RequestCtx, sc *scratch) (ip netip.Addr, ua []byte, visitor uint64) {
	ip = addrOf(ctx.RemoteIP())
	if len(s.opts.TrustedProxies) > 0 {
		ip = clientAddr(ip, s.opts.TrustedProxies,
			ctx.Request.Header.PeekCanonical(hdrForwarded), ctx.Request.Header.PeekCanonical(hdrXForwardedFor))
	}
	ua = truncate(ctx.Request.Header.UserAgent(), 512)
	b := ip.As16()
	sc.vbuf = append(append(sc.vbuf[:0], b[:]...), ua...)
	return ip, ua, siphash.Hash(s.k0, s.k1, sc.vbuf)
}

// isBot covers crawlers and link previews, prefetches, HEAD and configured bot networks.
func (s *Server) isBot(ctx *fasthttp.RequestCtx, ua []byte, ip netip.Addr) bool {
	if ctx.IsHead() || isPrefetch(&ctx.Request.Header) {
		return true
	}
	if s.opts.Bots != nil && s.opts.Bots.IsBot(ua) {
		return true
	}
	return len(s.opts.BotNetworks) > 0 && inPrefixes(s.opts.BotNetworks, ip)
}

func isPrefetch(h *fasthttp.RequestHeader) bool {
	if v := h.PeekCanonical(hdrSecPurpose); len(v) > 0 && bytes.Contains(v, []byte("prefetch")) {
		return true
	}
	if v := h.PeekCanonical(hdrPurpose); len(v) > 0 && bytes.Contains(v, []byte("prefetch")) {
		return true
	}
	return bytes.Equal(h.PeekCanonical(hdrXMoz), []byte("prefetch"))
}

// isNavigation reads the Fetch Metadata headers: only a top-level document navigation may claim.
// Without them (older browsers, curl) a GET counts as a navigation.
func isNavigation(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsGet() {
		return false
	}
	h := &ctx.Request.Header
	if v := h.PeekCanonical(hdrSecFetchDest); len(v) > 0 && !bytes.Equal(v, []byte("document")) {
		return false
	}
	if v := h.PeekCanonical(hdrSecFetchMode); len(v) > 0 && !bytes.Equal(v, []byte("navigate")) {
		return false
	}
	return true
}

// timeOf is when the request came: fasthttp reads the clock just before it calls the handler, so
// the request path need not read it again (a clock read is a noticeable share of a redirect's
// cost). Options.Now, when given, wins.
func (s *Server) timeOf(ctx *fasthttp.RequestCtx) time.Time {
	if s.now != nil {
		return s.now()
	}
	if t := ctx.Time(); !t.IsZero() {
		return t
	}
	return time.Now()
}

func (s *Server) redirect(ctx *fasthttp.RequestCtx, code []byte) {
	now := s.timeOf(ctx)
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	e := &sc.entry
	if !ValidCode(code) || !s.links.lookup(code, e) {
		// No such link: counted by code and minute (unknownCodes), never recorded as a click, so a
		// flood of made-up codes cannot crowd out real clicks.
		if !ValidCode(code) {
			code = nil
		}
		s.unknown.count(code, now)
		page(ctx, fasthttp.StatusNotFound, pageNotFound)
		s.outcomes[firstclaim.OutcomeUnknownLink].Inc()
		s.latency.Update(time.Since(now).Seconds())
		return
	}
	c := &sc.click
	*c = firstclaim.Click{}
	firstclaim.NewID(&sc.id, now)
	c.ID = b2s(sc.id[:])
	c.TS = now
	ip, ua, visitor := s.visitorOf(ctx, sc)
	c.IP, c.UserAgent, c.Visitor = ip, b2s(ua), visitor
	c.Referer = b2s(truncate(ctx.Request.Header.Referer(), 1024))
	c.GPC = bytes.Equal(ctx.Request.Header.PeekCanonical(hdrSecGPC), []byte("1"))
	c.Bot = s.isBot(ctx, ua, ip)
	c.NotNavigation = !isNavigation(ctx) && !ctx.IsHead()

	switch {
	case !e.active(now):
		s.fillLink(c, e)
		c.Outcome = firstclaim.OutcomeInactiveLink
		if fb := e.fallback(); fb != "" {
			ctx.SetStatusCode(fasthttp.StatusFound)
			ctx.Response.Header.SetCanonical(strLocation, s2b(fb))
			ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
		} else {
			page(ctx, fasthttp.StatusGone, pageGone)
		}
	default:
		s.fillLink(c, e)
		s.claim(ctx, sc, e, now)
		sc.loc = appendLocation(sc.loc[:0], e, ctx.URI().QueryString(), sc.id[:])
		ctx.SetStatusCode(fasthttp.StatusFound)
		ctx.Response.Header.SetCanonical(strLocation, sc.loc)
		ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
		ctx.Response.Header.SetCanonical(strRobots, strNoIndex)
	}
	s.outcomes[c.Outcome].Inc()
	if c.Tampered {
		s.tampered.Inc()
	}
	sc.rec = firstclaim.AppendClick(sc.rec[:0], c)
	s.rec.Record(sc.rec)
	s.latency.Update(time.Since(now).Seconds())
}

func (s *Server) fillLink(c *firstclaim.Click, e *entry) {
	c.Link, c.PartnerID, c.Program, c.Campaign = e.code(), e.partner, e.program, e.campaign
	c.Order = e.order
}

// claim applies docs/rules.md §1 for the link's program and sets the cookie when the click claims.
func (s *Server) claim(ctx *fasthttp.RequestCtx, sc *scratch, e *entry, now time.Time) {
	c, p := &sc.click, e.prog
	for _, name := range p.NetworkParams {
		if v := ctx.QueryArgs().Peek(name); len(v) > 0 {
			c.NetworkParam, c.NetworkClickID = name, b2s(truncate(v, 255))
			break
		}
	}
	existing := s.liveClaim(ctx, sc, p, now)
	switch {
	case c.Bot:
		c.Outcome = firstclaim.OutcomeBot
	case c.NotNavigation:
		c.Outcome = firstclaim.OutcomeNotNavigation
	default:
		switch cookie.Decide(now, existing, e.partner) {
		case cookie.Kept:
			c.Outcome = firstclaim.OutcomeKept
		case cookie.Protected:
			c.Outcome = firstclaim.OutcomeProtected
		default:
			switch {
			case c.GPC && s.opts.HonorGPC:
				c.Outcome = firstclaim.OutcomeOptedOut
			case !s.limiter.allow(c.IP, now):
				c.Outcome, c.RateLimited = firstclaim.OutcomeRateLimited, true
			default:
				c.Outcome = firstclaim.OutcomeClaimed
				sc.newClaim = cookie.NewClaim(now, p.window, e.partner, e.code(), c.ID, c.NetworkClickID)
				existing = &sc.newClaim
				sc.value = s.signer.Append(sc.value[:0], p.Name, existing)
				sc.setCk = cookie.AppendSetCookie(sc.setCk[:0], s2b(p.cookieName), sc.value, now, existing.ExpiresAt, &s.opts.Cookie)
				ctx.Response.Header.AddBytesKV(strSetCookie, sc.setCk)
			}
		}
	}
	if existing != nil {
		c.ClaimPartnerID, c.ClaimClickID, c.ClaimExpiresAt = existing.PartnerID, existing.ClickID, existing.ExpiresAt
		if c.NetworkClickID == "" {
			c.NetworkClickID = existing.NetworkClickID
		}
	}
}

// liveClaim returns the visitor's live claim for program p, or nil. Every cookie of the program's
// name is verified (docs/rules.md §1.6: one that does not verify is no claim), and the first that
// verifies and is live is the claim (§1.5: an expired claim is no claim); a bogus cookie tossed
// from a sibling subdomain cannot hide the real one. The click is marked tampered when cookies of
// the name came and none verified.
func (s *Server) liveClaim(ctx *fasthttp.RequestCtx, sc *scratch, p *program, now time.Time) *cookie.Claim {
	sc.cookies = requestCookies(sc.cookies[:0], &ctx.Request.Header, p.cookieName)
	verified := false
	for _, raw := range sc.cookies {
		if len(raw) == 0 {
			continue
		}
		var err error
		if sc.claimBuf, err = s.signer.Verify(sc.claimBuf, p.Name, raw, &sc.claim); err != nil {
			continue
		}
		verified = true
		if sc.claim.Live(now) {
			return &sc.claim
		}
	}
	if !verified {
		for _, raw := range sc.cookies {
			sc.click.Tampered = sc.click.Tampered || len(raw) > 0
		}
	}
	return nil
}

// appendLocation builds the destination: the link's URL, the visitor's query string (minus any
// parameter named like the click id, which only we set), the click id, then the link's fragment.
// Bytes that may not appear in a URL are percent-encoded, so no request can inject a header or
// break out of the query.
func appendLocation(dst []byte, e *entry, query []byte, id []byte) []byte {
	dst = append(dst, e.base()...)
	sep := e.sep
	param := e.prog.ClickParam
	for len(query) > 0 {
		var kv []byte
		if i := bytes.IndexByte(query, '&'); i >= 0 {
			kv, query = query[:i], query[i+1:]
		} else {
			kv, query = query, nil
		}
		if len(kv) == 0 {
			continue
		}
		name := kv
		if i := bytes.IndexByte(kv, '='); i >= 0 {
			name = kv[:i]
		}
		if isParam(name, param) {
			continue // every spelling of the click id's name: only the redirector sets it
		}
		if sep != 0 {
			dst = append(dst, sep)
		}
		sep = '&'
		dst = appendURLSafe(dst, kv)
	}
	if sep != 0 {
		dst = append(dst, sep)
	}
	dst = append(dst, param...)
	dst = append(dst, '=')
	dst = append(dst, id...)
	return append(dst, e.fragment()...)
}

// isParam reports whether a query parameter's name, as it came (percent-encoded or not, in any
// case), is param: click%5Fid, CLICK_ID and Click%5fId all name click_id to a server that decodes
// and folds case, so all must be dropped before the redirector appends its own.
func isParam(name []byte, param string) bool {
	j := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '%' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]) {
			c = unhex(name[i+1])<<4 | unhex(name[i+2])
			i += 2
		}
		if j >= len(param) || lower(c) != lower(param[j]) {
			return false
		}
		j++
	}
	return j == len(param)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

const hexUpper = "0123456789ABCDEF"

// urlPunct marks the punctuation a query may carry as it is (RFC 3986 unreserved and sub-delims,
// ':', '@', '/', '?').
var urlPunct = func() (t [256]bool) {
	for _, c := range []byte("-._~!$'()*+,;=:@/?") {
		t[c] = true
	}
	return t
}()

func appendURLSafe(dst, b []byte) []byte {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			dst = append(dst, c)
		case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			dst = append(dst, c)
		case urlPunct[c]:
			dst = append(dst, c)
		default:
			dst = append(dst, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	return dst
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func s2b(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}
