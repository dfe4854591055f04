package redirect

import (
	"strings"
	"testing"
)

// The impression pixel always answers the transparent GIF, never cached; it records impressions of
// known, active links and counts the rest.
func TestImpressionPixel(t *testing.T) {
	h := newHarness(t, nil)
	h.serve(t)
	for _, tc := range []struct {
		path, ua string
		record   bool
		reason   string
	}{
		{"/px/i.gif?link=a1", browserUA, true, ""},
		{"/px/i.gif?link=a1&x=%00%ff", "Slackbot-LinkExpanding 1.0", true, ""}, // a bot: recorded, flagged
		{"/px/i.gif", browserUA, false, "missing_link"},
		{"/px/i.gif?link=", browserUA, false, "missing_link"},
		{"/px/i.gif?link=%3Cscript%3E", browserUA, false, "malformed_link"},
		{"/px/i.gif?link=" + strings.Repeat("a", 500), browserUA, false, "malformed_link"},
		{"/px/i.gif?link=nope", browserUA, false, "unknown_link"},
		{"/px/i.gif?link=off", browserUA, false, "inactive_link"},
		{"/px/i.gif?link=old", browserUA, false, "inactive_link"},
	} {
		h.rec.mu.Lock()
		before := len(h.rec.imps)
		h.rec.mu.Unlock()
		resp := h.get(t, "GET", tc.path, map[string]string{"User-Agent": tc.ua, "Referer": "https://news.example/story"})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/gif" || !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
			t.Errorf("%s: %d %v", tc.path, resp.StatusCode, resp.Header)
		}
		h.rec.mu.Lock()
		got := len(h.rec.imps) - before
		h.rec.mu.Unlock()
		if tc.record != (got == 1) {
			t.Errorf("%s: %d impressions recorded", tc.path, got)
		}
		if !tc.record && !strings.Contains(metricsText(h.srv.opts.Metrics), `firstclaim_impression_rejections_total{reason="`+tc.reason+`"}`) {
			t.Errorf("%s: not counted as %s", tc.path, tc.reason)
		}
	}
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if len(h.rec.imps) != 2 {
		t.Fatalf("%d impressions", len(h.rec.imps))
	}
	m := h.rec.imps[0]
	if m.Link != "a1" || m.PartnerID != "partner-a" || m.Program != "affiliate" || m.Campaign != "summer" || !m.Known || m.Bot ||
		m.Referer != "https://news.example/story" || m.ID == "" || !m.TS.Equal(h.clock.now()) || m.Visitor == 0 {
		t.Fatalf("impression %+v", m)
	}
	if !h.rec.imps[1].Bot {
		t.Fatal("a crawler's impression is not flagged")
	}
	if !strings.Contains(metricsText(h.srv.opts.Metrics), "firstclaim_impressions_total 2") {
		t.Fatal("impressions not counted")
	}
}
