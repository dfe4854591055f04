package redirect

import (
	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim"
)

var pathImpressionPixel = []byte("/px/i.gif")

// impressionPixel answers GET /px/i.gif?link=CODE, placed where a partner shows a link (a banner,
// a newsletter), with the transparent GIF whatever happens, never cached, and records an
// impression of a known, active link, so reports can give the click-through rate. A missing,
// malformed, unknown or inactive link records nothing and is counted.
func (s *Server) impressionPixel(ctx *fasthttp.RequestCtx) {
	defer pixel(ctx)
	now := s.timeOf(ctx)
	code := ctx.QueryArgs().Peek("link")
	switch {
	case len(code) == 0:
		s.impRejected[impMissing].Inc()
		return
	case !ValidCode(code):
		s.impRejected[impMalformed].Inc()
		return
	}
	sc := s.pool.Get().(*scratch)
	defer s.pool.Put(sc)
	e := &sc.entry
	if !s.links.lookup(code, e) {
		s.impRejected[impUnknown].Inc()
		return
	}
	if !e.active(now) {
		s.impRejected[impInactive].Inc()
		return
	}
	ip, ua, visitor := s.visitorOf(ctx, sc)
	firstclaim.NewID(&sc.id, now)
	m := firstclaim.Impression{
		ID: b2s(sc.id[:]), TS: now, Link: e.code(), PartnerID: e.partner, Program: e.program,
		Campaign: e.campaign, IP: ip, UserAgent: b2s(ua), Referer: b2s(truncate(ctx.Request.Header.Referer(), 1024)),
		Visitor: visitor, Bot: s.isBot(ctx, ua, ip), Known: true,
	}
	sc.rec = firstclaim.AppendImpression(sc.rec[:0], &m)
	s.rec.Record(sc.rec)
	s.impressions.Inc()
}

const (
	impMissing = iota
	impMalformed
	impUnknown
	impInactive
	impReasons
)

var impReasonNames = [impReasons]string{"missing_link", "malformed_link", "unknown_link", "inactive_link"}
