package sink

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/firstclaim/firstclaim"
)

// NDJSON writes records as JSON lines to a file (or standard output), one object per record with
// an "event" field: click, association or impression. It is the embedded store when no ClickHouse
// is configured, and handy for piping into other tools.
type NDJSON struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	own  bool
	line []byte
}

// OpenNDJSON appends to path; "-" is standard output.
func OpenNDJSON(path string) (*NDJSON, error) {
	if path == "-" {
		return &NDJSON{f: os.Stdout, w: bufio.NewWriterSize(os.Stdout, 64<<10)}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cannot open clicks file: %w", err)
	}
	return &NDJSON{f: f, w: bufio.NewWriterSize(f, 256<<10), own: true}, nil
}

// ClickJSON is a click as written to NDJSON.
type ClickJSON struct {
	Event          string `json:"event"`
	ClickID        string `json:"click_id"`
	TS             string `json:"ts"`
	Link           string `json:"link"`
	PartnerID      string `json:"partner_id"`
	Program        string `json:"program"`
	Campaign       string `json:"campaign"`
	Outcome        string `json:"outcome"`
	ClaimPartnerID string `json:"claim_partner_id"`
	ClaimClickID   string `json:"claim_click_id"`
	ClaimExpiresAt string `json:"claim_expires_at"`
	Tampered       bool   `json:"tampered"`
	IP             string `json:"ip"`
	UserAgent      string `json:"user_agent"`
	Referer        string `json:"referer"`
	RefererHost    string `json:"referer_host"`
	Visitor        string `json:"visitor"`
	Bot            bool   `json:"bot"`
	NotNavigation  bool   `json:"not_navigation"`
	RateLimited    bool   `json:"rate_limited"`
	Duplicate      bool   `json:"duplicate"`
	GPC            bool   `json:"gpc"`
	NetworkParam   string `json:"network_param"`
	NetworkClickID string `json:"network_click_id"`
	Country        string `json:"country"`
	Region         string `json:"region"`
	City           string `json:"city"`
	DeviceType     string `json:"device_type"`
	OS             string `json:"os"`
	OSVersion      string `json:"os_version"`
	Browser        string `json:"browser"`
	BrowserVersion string `json:"browser_version"`
}

// AssociationJSON is an association as written to NDJSON.
type AssociationJSON struct {
	Event          string `json:"event"`
	AssociationID  string `json:"association_id"`
	TS             string `json:"ts"`
	Program        string `json:"program"`
	AccountID      string `json:"account_id"`
	PartnerID      string `json:"partner_id"`
	ClickID        string `json:"click_id"`
	Link           string `json:"link"`
	Kind           string `json:"kind"`
	ClaimedAt      string `json:"claimed_at"`
	ClaimExpiresAt string `json:"claim_expires_at"`
	Source         string `json:"source"`
	NetworkClickID string `json:"network_click_id"`
}

// ImpressionJSON is an impression as written to NDJSON.
type ImpressionJSON struct {
	Event        string `json:"event"`
	ImpressionID string `json:"impression_id"`
	TS           string `json:"ts"`
	Link         string `json:"link"`
	PartnerID    string `json:"partner_id"`
	Program      string `json:"program"`
	Campaign     string `json:"campaign"`
	IP           string `json:"ip"`
	UserAgent    string `json:"user_agent"`
	Referer      string `json:"referer"`
	Visitor      string `json:"visitor"`
	Bot          bool   `json:"bot"`
	Known        bool   `json:"known_link"`
}

// Time formats a time for NDJSON: RFC 3339 in UTC with milliseconds, or "" for none.
func Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// NewClickJSON converts a click.
func NewClickJSON(c *firstclaim.Click) ClickJSON {
	return ClickJSON{
		Event: "click", ClickID: c.ID, TS: Time(c.TS), Link: c.Link, PartnerID: c.PartnerID,
		Program: c.Program, Campaign: c.Campaign, Outcome: c.Outcome.String(),
		ClaimPartnerID: c.ClaimPartnerID, ClaimClickID: c.ClaimClickID, ClaimExpiresAt: Time(c.ClaimExpiresAt),
		Tampered: c.Tampered, IP: c.StoredIP, UserAgent: c.UserAgent, Referer: c.Referer, RefererHost: c.RefererHost,
		Visitor: strconv.FormatUint(c.Visitor, 16), Bot: c.Bot, NotNavigation: c.NotNavigation,
		RateLimited: c.RateLimited, Duplicate: c.Duplicate, GPC: c.GPC,
		NetworkParam: c.NetworkParam, NetworkClickID: c.NetworkClickID,
		Country: c.Country, Region: c.Region, City: c.City, DeviceType: c.DeviceType,
		OS: c.OS, OSVersion: c.OSVersion, Browser: c.Browser, BrowserVersion: c.BrowserVersion,
	}
}

// Write appends b's records and flushes them to the file.
func (n *NDJSON) Write(ctx context.Context, b *Batch) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range b.Clicks {
		if err := n.put(NewClickJSON(&b.Clicks[i])); err != nil {
			return err
		}
	}
	for i := range b.Associations {
		a := &b.Associations[i]
		if err := n.put(AssociationJSON{
			Event: "association", AssociationID: a.ID, TS: Time(a.TS), Program: a.Program, AccountID: a.AccountID,
			PartnerID: a.PartnerID, ClickID: a.ClickID, Link: a.Link, Kind: a.Kind, ClaimedAt: Time(a.ClaimedAt),
			ClaimExpiresAt: Time(a.ClaimExpiresAt), Source: a.Source, NetworkClickID: a.NetworkClickID,
		}); err != nil {
			return err
		}
	}
	for i := range b.Impressions {
		m := &b.Impressions[i]
		ip := m.StoredIP
		if err := n.put(ImpressionJSON{
			Event: "impression", ImpressionID: m.ID, TS: Time(m.TS), Link: m.Link, PartnerID: m.PartnerID,
			Program: m.Program, Campaign: m.Campaign, IP: ip, UserAgent: m.UserAgent, Referer: m.Referer,
			Visitor: strconv.FormatUint(m.Visitor, 16), Bot: m.Bot, Known: m.Known,
		}); err != nil {
			return err
		}
	}
	return n.w.Flush()
}

func (n *NDJSON) put(v any) error {
	var err error
	n.line, err = json.Marshal(v)
	if err != nil {
		return Permanent(err)
	}
	n.line = append(n.line, '\n')
	_, err = n.w.Write(n.line)
	return err
}

// Close flushes and closes the file.
func (n *NDJSON) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.w.Flush()
	if n.own {
		if cerr := n.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

var _ io.Closer = (*NDJSON)(nil)
