package firstclaim

import (
	"strconv"
	"time"
)

// Column is one column of an event table, declared once: its name and ClickHouse type, where a
// row's value for it is (Value: a pointer to the value as stored, which is how the ClickHouse
// adapter appends it without boxing), and what it is in JSON (JSON: nil when the column is left out
// of JSON lines). The ClickHouse INSERT's column list, the NDJSON writer and the test that compares
// them with the migrated tables all read the lists below, so adding a column is one line here (and
// a migration, and the field in the record; docs/architecture.md).
type Column[R any] struct {
	Name  string
	Type  string
	Value func(r *R) any
	JSON  func(r *R) any
}

// ClickRow is a click as it is stored: the click, and the values converted for their columns.
// Set fills it; one row, reused, is all the room a writer needs.
type ClickRow struct {
	Click
	second, expires time.Time // DateTime columns: whole seconds, UTC, the zero time as the epoch
	milli           uint16
	outcome         string
	flags           [7]uint8 // tampered, bot, not_navigation, rate_limited, duplicate, gpc, replayed
}

// Set makes r the row of c; replayed marks a row written by a retry or from the spool, or late
// (which reports count from the raw table, not from rollups).
func (r *ClickRow) Set(c *Click, replayed bool) {
	r.Click = *c
	r.second, r.milli, r.expires = StoredTime(c.TS), StoredMilli(c.TS), StoredTime(c.ClaimExpiresAt)
	r.outcome = c.Outcome.String()
	for i, v := range [...]bool{c.Tampered, c.Bot, c.NotNavigation, c.RateLimited, c.Duplicate, c.GPC, replayed} {
		r.flags[i] = u8(v)
	}
}

// ClickColumns are the clicks table's columns.
func ClickColumns() []Column[ClickRow] { return clickColumns }

var clickColumns = []Column[ClickRow]{
	{"click_id", "String", func(r *ClickRow) any { return &r.ID }, func(r *ClickRow) any { return r.ID }},
	{"ts", "DateTime('UTC')", func(r *ClickRow) any { return &r.second }, func(r *ClickRow) any { return JSONTime(r.TS) }},
	{"ts_ms", "UInt16", func(r *ClickRow) any { return &r.milli }, nil},
	{"link", "String", func(r *ClickRow) any { return &r.Link }, func(r *ClickRow) any { return r.Link }},
	{"partner_id", "String", func(r *ClickRow) any { return &r.PartnerID }, func(r *ClickRow) any { return r.PartnerID }},
	{"program", "String", func(r *ClickRow) any { return &r.Program }, func(r *ClickRow) any { return r.Program }},
	{"campaign", "String", func(r *ClickRow) any { return &r.Campaign }, func(r *ClickRow) any { return r.Campaign }},
	{"outcome", "String", func(r *ClickRow) any { return &r.outcome }, func(r *ClickRow) any { return r.outcome }},
	{"claim_partner_id", "String", func(r *ClickRow) any { return &r.ClaimPartnerID }, func(r *ClickRow) any { return r.ClaimPartnerID }},
	{"claim_click_id", "String", func(r *ClickRow) any { return &r.ClaimClickID }, func(r *ClickRow) any { return r.ClaimClickID }},
	{"claim_expires_at", "DateTime('UTC')", func(r *ClickRow) any { return &r.expires }, func(r *ClickRow) any { return JSONTime(r.ClaimExpiresAt) }},
	{"tampered", "UInt8", func(r *ClickRow) any { return &r.flags[0] }, func(r *ClickRow) any { return r.Tampered }},
	{"ip", "String", func(r *ClickRow) any { return &r.StoredIP }, func(r *ClickRow) any { return r.StoredIP }},
	{"user_agent", "String", func(r *ClickRow) any { return &r.UserAgent }, func(r *ClickRow) any { return r.UserAgent }},
	{"referer", "String", func(r *ClickRow) any { return &r.Referer }, func(r *ClickRow) any { return r.Referer }},
	{"referer_host", "String", func(r *ClickRow) any { return &r.RefererHost }, func(r *ClickRow) any { return r.RefererHost }},
	{"visitor", "UInt64", func(r *ClickRow) any { return &r.Visitor }, func(r *ClickRow) any { return strconv.FormatUint(r.Visitor, 16) }},
	{"bot", "UInt8", func(r *ClickRow) any { return &r.flags[1] }, func(r *ClickRow) any { return r.Bot }},
	{"not_navigation", "UInt8", func(r *ClickRow) any { return &r.flags[2] }, func(r *ClickRow) any { return r.NotNavigation }},
	{"rate_limited", "UInt8", func(r *ClickRow) any { return &r.flags[3] }, func(r *ClickRow) any { return r.RateLimited }},
	{"duplicate", "UInt8", func(r *ClickRow) any { return &r.flags[4] }, func(r *ClickRow) any { return r.Duplicate }},
	{"gpc", "UInt8", func(r *ClickRow) any { return &r.flags[5] }, func(r *ClickRow) any { return r.GPC }},
	{"network_param", "String", func(r *ClickRow) any { return &r.NetworkParam }, func(r *ClickRow) any { return r.NetworkParam }},
	{"network_click_id", "String", func(r *ClickRow) any { return &r.NetworkClickID }, func(r *ClickRow) any { return r.NetworkClickID }},
	{"country", "String", func(r *ClickRow) any { return &r.Country }, func(r *ClickRow) any { return r.Country }},
	{"region", "String", func(r *ClickRow) any { return &r.Region }, func(r *ClickRow) any { return r.Region }},
	{"city", "String", func(r *ClickRow) any { return &r.City }, func(r *ClickRow) any { return r.City }},
	{"device_type", "String", func(r *ClickRow) any { return &r.DeviceType }, func(r *ClickRow) any { return r.DeviceType }},
	{"os", "String", func(r *ClickRow) any { return &r.OS }, func(r *ClickRow) any { return r.OS }},
	{"os_version", "String", func(r *ClickRow) any { return &r.OSVersion }, func(r *ClickRow) any { return r.OSVersion }},
	{"browser", "String", func(r *ClickRow) any { return &r.Browser }, func(r *ClickRow) any { return r.Browser }},
	{"browser_version", "String", func(r *ClickRow) any { return &r.BrowserVersion }, func(r *ClickRow) any { return r.BrowserVersion }},
	{"replayed", "UInt8", func(r *ClickRow) any { return &r.flags[6] }, nil},
	{"rewritten", "UInt8", func(r *ClickRow) any { return &r.flags[6] }, nil}, // replayed, in the sorting key
}

// AssociationRow is an association as it is stored.
type AssociationRow struct {
	Association
	second, claimed, expires time.Time
	milli                    uint16
}

// Set makes r the row of a.
func (r *AssociationRow) Set(a *Association) {
	r.Association = *a
	r.second, r.milli = StoredTime(a.TS), StoredMilli(a.TS)
	r.claimed, r.expires = StoredTime(a.ClaimedAt), StoredTime(a.ClaimExpiresAt)
}

// AssociationColumns are the associations table's columns.
func AssociationColumns() []Column[AssociationRow] { return associationColumns }

var associationColumns = []Column[AssociationRow]{
	{"association_id", "String", func(r *AssociationRow) any { return &r.ID }, func(r *AssociationRow) any { return r.ID }},
	{"ts", "DateTime('UTC')", func(r *AssociationRow) any { return &r.second }, func(r *AssociationRow) any { return JSONTime(r.TS) }},
	{"ts_ms", "UInt16", func(r *AssociationRow) any { return &r.milli }, nil},
	{"program", "String", func(r *AssociationRow) any { return &r.Program }, func(r *AssociationRow) any { return r.Program }},
	{"account_id", "String", func(r *AssociationRow) any { return &r.AccountID }, func(r *AssociationRow) any { return r.AccountID }},
	{"partner_id", "String", func(r *AssociationRow) any { return &r.PartnerID }, func(r *AssociationRow) any { return r.PartnerID }},
	{"click_id", "String", func(r *AssociationRow) any { return &r.ClickID }, func(r *AssociationRow) any { return r.ClickID }},
	{"link", "String", func(r *AssociationRow) any { return &r.Link }, func(r *AssociationRow) any { return r.Link }},
	{"kind", "String", func(r *AssociationRow) any { return &r.Kind }, func(r *AssociationRow) any { return r.Kind }},
	{"claimed_at", "DateTime('UTC')", func(r *AssociationRow) any { return &r.claimed }, func(r *AssociationRow) any { return JSONTime(r.ClaimedAt) }},
	{"claim_expires_at", "DateTime('UTC')", func(r *AssociationRow) any { return &r.expires }, func(r *AssociationRow) any { return JSONTime(r.ClaimExpiresAt) }},
	{"source", "String", func(r *AssociationRow) any { return &r.Source }, func(r *AssociationRow) any { return r.Source }},
	{"network_click_id", "String", func(r *AssociationRow) any { return &r.NetworkClickID }, func(r *AssociationRow) any { return r.NetworkClickID }},
}

// ImpressionRow is an impression as it is stored.
type ImpressionRow struct {
	Impression
	second                    time.Time
	milli                     uint16
	bot, known, dup, replayed uint8
}

// Set makes r the row of m; replayed marks a row written by a retry or from the spool, or late.
func (r *ImpressionRow) Set(m *Impression, replayed bool) {
	r.Impression = *m
	r.second, r.milli = StoredTime(m.TS), StoredMilli(m.TS)
	r.bot, r.known, r.dup, r.replayed = u8(m.Bot), u8(m.Known), u8(m.Duplicate), u8(replayed)
}

// ImpressionColumns are the impressions table's columns.
func ImpressionColumns() []Column[ImpressionRow] { return impressionColumns }

var impressionColumns = []Column[ImpressionRow]{
	{"impression_id", "String", func(r *ImpressionRow) any { return &r.ID }, func(r *ImpressionRow) any { return r.ID }},
	{"ts", "DateTime('UTC')", func(r *ImpressionRow) any { return &r.second }, func(r *ImpressionRow) any { return JSONTime(r.TS) }},
	{"ts_ms", "UInt16", func(r *ImpressionRow) any { return &r.milli }, nil},
	{"link", "String", func(r *ImpressionRow) any { return &r.Link }, func(r *ImpressionRow) any { return r.Link }},
	{"partner_id", "String", func(r *ImpressionRow) any { return &r.PartnerID }, func(r *ImpressionRow) any { return r.PartnerID }},
	{"program", "String", func(r *ImpressionRow) any { return &r.Program }, func(r *ImpressionRow) any { return r.Program }},
	{"campaign", "String", func(r *ImpressionRow) any { return &r.Campaign }, func(r *ImpressionRow) any { return r.Campaign }},
	{"ip", "String", func(r *ImpressionRow) any { return &r.StoredIP }, func(r *ImpressionRow) any { return r.StoredIP }},
	{"user_agent", "String", func(r *ImpressionRow) any { return &r.UserAgent }, func(r *ImpressionRow) any { return r.UserAgent }},
	{"referer", "String", func(r *ImpressionRow) any { return &r.Referer }, func(r *ImpressionRow) any { return r.Referer }},
	{"visitor", "UInt64", func(r *ImpressionRow) any { return &r.Visitor }, func(r *ImpressionRow) any { return strconv.FormatUint(r.Visitor, 16) }},
	{"bot", "UInt8", func(r *ImpressionRow) any { return &r.bot }, func(r *ImpressionRow) any { return r.Bot }},
	{"known_link", "UInt8", func(r *ImpressionRow) any { return &r.known }, func(r *ImpressionRow) any { return r.Known }},
	{"duplicate", "UInt8", func(r *ImpressionRow) any { return &r.dup }, func(r *ImpressionRow) any { return r.Duplicate }},
	{"replayed", "UInt8", func(r *ImpressionRow) any { return &r.replayed }, nil},
}

// UnknownCodeRow is an unknown code's count as it is stored.
type UnknownCodeRow struct {
	UnknownCode
	minute, first, last time.Time
}

// Set makes r the row of u.
func (r *UnknownCodeRow) Set(u *UnknownCode) {
	r.UnknownCode = *u
	r.minute, r.first, r.last = StoredTime(u.Minute), StoredTime(u.FirstSeen), StoredTime(u.LastSeen)
}

// UnknownCodeColumns are the unknown_codes table's columns.
func UnknownCodeColumns() []Column[UnknownCodeRow] { return unknownCodeColumns }

var unknownCodeColumns = []Column[UnknownCodeRow]{
	{"row_id", "String", func(r *UnknownCodeRow) any { return &r.ID }, func(r *UnknownCodeRow) any { return r.ID }},
	{"minute", "DateTime('UTC')", func(r *UnknownCodeRow) any { return &r.minute }, func(r *UnknownCodeRow) any { return JSONTime(r.Minute) }},
	{"code", "String", func(r *UnknownCodeRow) any { return &r.Code }, func(r *UnknownCodeRow) any { return r.Code }},
	{"hits", "UInt64", func(r *UnknownCodeRow) any { return &r.Hits }, func(r *UnknownCodeRow) any { return r.Hits }},
	{"first_seen", "DateTime('UTC')", func(r *UnknownCodeRow) any { return &r.first }, func(r *UnknownCodeRow) any { return JSONTime(r.FirstSeen) }},
	{"last_seen", "DateTime('UTC')", func(r *UnknownCodeRow) any { return &r.last }, func(r *UnknownCodeRow) any { return JSONTime(r.LastSeen) }},
}

// ColumnNames lists the names of cols, in order.
func ColumnNames[R any](cols []Column[R]) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.Name
	}
	return out
}

// JSONTime writes a time for JSON lines: RFC 3339 in UTC with milliseconds, or "" for none.
func JSONTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// StoredTime is t as a DateTime column holds it: whole seconds in UTC, the zero time (and anything
// before the epoch) as the epoch, which stands for "none".
func StoredTime(t time.Time) time.Time {
	if t.IsZero() || t.Unix() < 0 {
		return time.Unix(0, 0).UTC()
	}
	return t.UTC().Truncate(time.Second)
}

// StoredMilli is the millisecond part of t, for the *_ms column beside a DateTime.
func StoredMilli(t time.Time) uint16 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	return uint16(t.Nanosecond() / 1e6)
}

func u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}
