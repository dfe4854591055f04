package attribution

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Line kinds (docs/rules.md §9).
const (
	LineOrder    = "order"
	LineClawback = "clawback"
	LineLead     = "lead"
	LineCredit   = "credit"
	LineTier     = "tier"
)

// Statuses.
const (
	StatusApproved = "approved"
	StatusPending  = "pending"
	StatusRejected = "rejected"
)

// Reasons a line is rejected (docs/rules.md §5), in the order they are checked.
const (
	ReasonNoClaim            = "no_claim"
	ReasonOutsideWindow      = "outside_window"
	ReasonSamePerson         = "same_person"
	ReasonNotNewUser         = "not_new_user"
	ReasonProductNotEligible = "product_not_eligible"
	ReasonPayAsYouGo         = "pay_as_you_go"
	ReasonRenewal            = "renewal"
	ReasonExcludedAccount    = "excluded_account"
	ReasonExcludedPartner    = "excluded_partner"
	ReasonBelowMinimum       = "below_minimum"
	ReasonRefunded           = "refunded"
)

// Line is one commission line: what a program owes (or refuses, with the reason) for an order,
// a lead, a friend's credit or a campaign tier.
type Line struct {
	Program    string
	PartnerID  string
	Line       string
	Ref        string
	AccountID  string
	Status     string
	Reason     string
	Base       int64 // minor units of Currency; a count for tier and lead lines (BaseIsCount)
	BaseCount  bool
	Rate       string // a decimal fraction; empty for fixed amounts
	Commission int64  // minor units of Currency
	Currency   string
	PayableOn  time.Time // a UTC date; zero when rejected

	// TS is when the line's event happened (the order, the refund, the sign-up), for reports; it is
	// not part of the offline contract's output.
	TS time.Time
	// ClickID and NetworkClickID are those of the claim behind the line, for postbacks to affiliate
	// networks; not part of the offline contract's output either.
	ClickID, NetworkClickID string
}

// BaseText is the base as written in the output: a decimal amount, or a count.
func (l *Line) BaseText() string {
	if l.BaseCount {
		return strconv.FormatInt(l.Base, 10)
	}
	return FormatAmount(l.Base, l.Currency)
}

// PayableText is the payable date as YYYY-MM-DD, or "".
func (l *Line) PayableText() string {
	if l.PayableOn.IsZero() {
		return ""
	}
	return l.PayableOn.UTC().Format(time.DateOnly)
}

// lineJSON fixes the output's field order (the offline contract).
type lineJSON struct {
	Program    string `json:"program"`
	PartnerID  string `json:"partner_id"`
	Line       string `json:"line"`
	Ref        string `json:"ref"`
	AccountID  string `json:"account_id"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	Base       string `json:"base"`
	Rate       string `json:"rate"`
	Commission string `json:"commission"`
	Currency   string `json:"currency"`
	PayableOn  string `json:"payable_on"`
}

// MarshalJSON writes the line as the offline contract says: amounts as decimal strings in major
// units, the date as YYYY-MM-DD.
func (l Line) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(lineJSON{
		Program: l.Program, PartnerID: l.PartnerID, Line: l.Line, Ref: l.Ref, AccountID: l.AccountID,
		Status: l.Status, Reason: l.Reason, Base: l.BaseText(), Rate: l.Rate,
		Commission: FormatAmount(l.Commission, l.Currency), Currency: l.Currency, PayableOn: l.PayableText(),
	})
	return bytes.TrimRight(b.Bytes(), "\n"), err
}

// CSVHeader and CSVRecord write lines as CSV with the same fields.
func CSVHeader() []string {
	return []string{"program", "partner_id", "line", "ref", "account_id", "status", "reason", "base", "rate", "commission", "currency", "payable_on"}
}

// CSVRecord is the line's CSV row, in CSVHeader's order.
func (l *Line) CSVRecord() []string {
	return []string{l.Program, l.PartnerID, l.Line, l.Ref, l.AccountID, l.Status, l.Reason, l.BaseText(), l.Rate,
		FormatAmount(l.Commission, l.Currency), l.Currency, l.PayableText()}
}
