package firstclaim

import (
	"net/netip"
	"strings"
	"time"
)

// Outcome says what a request on a link did to the visitor's claim (docs/rules.md §1).
type Outcome uint8

const (
	OutcomeNone          Outcome = iota
	OutcomeClaimed               // no live claim: this click claims
	OutcomeKept                  // a live claim by the same partner: kept, expiry unchanged
	OutcomeProtected             // a live claim by another partner: nothing changes
	OutcomeNotNavigation         // an image, iframe, script or fetch request: never claims
	OutcomeBot                   // crawler, link preview, prefetch, HEAD, bot network: never claims
	OutcomeUnknownLink           // no such link code
	OutcomeInactiveLink          // disabled or expired link
	OutcomeRateLimited           // would have claimed, but the address made too many claims
	OutcomeOptedOut              // would have claimed, but the browser sent Sec-GPC and the server honours it
	outcomeCount
)

var outcomeNames = [outcomeCount]string{
	"", "claimed", "kept", "protected", "not_navigation", "bot", "unknown_link", "inactive_link",
	"rate_limited", "opted_out",
}

func (o Outcome) String() string {
	if o < outcomeCount {
		return outcomeNames[o]
	}
	return "invalid"
}

// Outcomes lists every outcome a click can have, in their numeric order.
func Outcomes() []Outcome {
	out := make([]Outcome, 0, outcomeCount-1)
	for o := OutcomeClaimed; o < outcomeCount; o++ {
		out = append(out, o)
	}
	return out
}

// ParseOutcome is the inverse of Outcome.String.
func ParseOutcome(s string) (Outcome, bool) {
	for i, n := range outcomeNames {
		if i > 0 && n == s {
			return Outcome(i), true
		}
	}
	return OutcomeNone, false
}

// Click is one request on /r/CODE. The request path fills the fields it knows, then encodes the
// click at once (AppendClick) so that nothing of the request outlives the handler; the sink's
// worker decodes it and fills the enrichment fields (geography, device, duplicate) off the
// visitor's time.
type Click struct {
	ID        string
	TS        time.Time
	Link      string
	PartnerID string
	Program   string
	Campaign  string
	Outcome   Outcome

	// The claim that holds after this click: this click's own for a new claim, the existing one
	// when kept or protected, empty when there is none.
	ClaimPartnerID string
	ClaimClickID   string
	ClaimExpiresAt time.Time
	Tampered       bool // a claim cookie was present but did not verify

	IP        netip.Addr
	UserAgent string
	Referer   string
	Visitor   uint64 // keyed hash of address and user agent: counts unique visitors without storing them

	Bot           bool
	NotNavigation bool
	RateLimited   bool
	Duplicate     bool // same visitor and link inside the duplicate window (set by the sink's worker)
	GPC           bool // the browser sent Sec-GPC: 1

	// Network click id passed through from an affiliate network (the parameter and its value).
	NetworkParam   string
	NetworkClickID string

	// Order is where the click's partner and link come among the served links in the order of
	// CompareLinks (from 1; 0 when unknown, as for a code that is no link). With the click's time
	// and id it places the click in ClickOrder, which lets the sink hand ClickHouse a batch already
	// in the clicks table's order and spares ClickHouse sorting it. It is encoded but not stored.
	Order uint32

	// Derived off the request path, never encoded: the address as stored after the privacy mode
	// (full, truncated, hashed or empty) and the referring site's host.
	StoredIP    string
	RefererHost string

	// Enrichment, filled off the request path.
	Country        string
	Region         string
	City           string
	DeviceType     string
	OS             string
	OSVersion      string
	Browser        string
	BrowserVersion string
}

// ClickOrder is the order of clicks that Click.Order lets the sink produce, by column: partner,
// link, time, click id. The store's own key is declared beside its table (the ClickHouse
// adapter's ClicksOrderBy); a test there fails if the two disagree.
// The last column, rewritten, never orders two clicks of one batch: no batch holds a click id
// twice.
func ClickOrder() []string { return []string{"partner_id", "link", "ts", "click_id", "rewritten"} }

// CompareLinks orders links as Click.Order numbers them: by partner, then code.
func CompareLinks(partnerA, codeA, partnerB, codeB string) int {
	if c := strings.Compare(partnerA, partnerB); c != 0 {
		return c
	}
	return strings.Compare(codeA, codeB)
}

// Association kinds (docs/rules.md, "Claims on accounts").
const (
	KindRegister = "register"
	KindLogin    = "login"
)

// Association binds a merchant's account to the partner whose claim the visitor carried when it
// registered or logged in (docs/rules.md §2).
type Association struct {
	ID             string // event id; the same report repeated has the same id
	TS             time.Time
	Program        string
	AccountID      string
	PartnerID      string
	ClickID        string
	Link           string
	Kind           string // register or login
	ClaimedAt      time.Time
	ClaimExpiresAt time.Time
	Source         string // pixel, s2s or import
	NetworkClickID string
}

// Impression is one view of a partner's link, reported by the impression pixel.
type Impression struct {
	ID        string
	TS        time.Time
	Link      string
	PartnerID string
	Program   string
	Campaign  string
	IP        netip.Addr
	UserAgent string
	Referer   string
	Visitor   uint64
	Bot       bool
	Known     bool // the link code exists

	// Derived off the request path, never encoded: the address as stored after the privacy mode, and
	// whether the same visitor saw the same link inside the duplicate window (set by the sink's worker).
	StoredIP  string
	Duplicate bool
}

// UnknownCode counts the requests of one minute, on one redirector, for a code that is no link:
// which codes people try is worth seeing, but as counts, so that a flood of made-up codes costs a
// row per code and minute, never a row per request. Code is "(invalid)" for requests whose code
// could never be a link, and "(other)" for the codes beyond the minute's budget of distinct codes.
type UnknownCode struct {
	ID        string // the row's id: a replayed row is counted once
	Minute    time.Time
	Code      string
	Hits      uint64
	FirstSeen time.Time
	LastSeen  time.Time
}

// The codes of UnknownCode that stand for many.
const (
	CodeInvalid = "(invalid)"
	CodeOther   = "(other)"
)

// HostOf returns the lower-cased host of an absolute URL such as a Referer, or "" when it has none.
func HostOf(rawURL string) string {
	i := strings.Index(rawURL, "://")
	if i < 0 {
		return ""
	}
	h := rawURL[i+3:]
	if j := strings.IndexAny(h, "/?#"); j >= 0 {
		h = h[:j]
	}
	if j := strings.LastIndexByte(h, '@'); j >= 0 {
		h = h[j+1:]
	}
	if strings.HasPrefix(h, "[") {
		if j := strings.IndexByte(h, ']'); j >= 0 {
			return strings.ToLower(h[1:j])
		}
	}
	if j := strings.LastIndexByte(h, ':'); j >= 0 {
		h = h[:j]
	}
	return strings.ToLower(h)
}
