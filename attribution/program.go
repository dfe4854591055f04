package attribution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// Day is the unit of windows and periods: 24 hours (docs/rules.md §8).
const Day = 24 * time.Hour

// Where a program's account-level window is counted from (docs/rules.md §2.3).
const (
	FromClick       = "click"
	FromAssociation = "association"
)

// Program is one referral program: a preset's rules with its parameters (docs/rules.md §6). Every
// number is configuration; the presets are only defaults.
type Program struct {
	Name   string `json:"name"`
	Preset string `json:"preset"`

	// Claims (§1, §2).
	WindowDays int    `json:"window_days"`
	WindowFrom string `json:"window_from"`

	// The redirector.
	ClickParam    string   `json:"click_param"`    // query parameter carrying the click id to the merchant
	FallbackURL   string   `json:"fallback_url"`   // where a disabled or expired link sends visitors; empty: 410
	NetworkParams []string `json:"network_params"` // query parameters that carry an affiliate network's click id

	Rules Rules `json:"rules"`
}

// Window is the claim window as a duration.
func (p *Program) Window() time.Duration { return time.Duration(p.WindowDays) * Day }

// CookieName is the name of the program's claim cookie.
func (p *Program) CookieName() string { return "fc_" + p.Name }

// Presets returns the built-in programs of docs/rules.md §6, one per preset, named after it.
func Presets() map[string]Program {
	m := make(map[string]Program, len(presets))
	for _, p := range presets {
		p.Rules = p.Rules.clone()
		m[p.Name] = p
	}
	return m
}

// PresetNames lists the presets in a stable order.
func PresetNames() []string {
	var names []string
	for _, p := range presets {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	return names
}

// ParsePrograms returns the built-in presets plus the programs of a programs file (a JSON array;
// empty data: the presets alone); name is what errors call the file. A program names its preset
// and overrides any field of it:
//
//	[{"name": "acme", "preset": "affiliate", "window_days": 20, "fallback_url": "https://acme.example/"}]
//
// A program named like a preset replaces that preset.
func ParsePrograms(path string, data []byte) (map[string]Program, error) {
	progs := Presets()
	if len(bytes.TrimSpace(data)) == 0 {
		return progs, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w (want a JSON array of programs)", path, err)
	}
	seen := map[string]bool{}
	for i, r := range raw {
		var head struct {
			Name   string `json:"name"`
			Preset string `json:"preset"`
		}
		if err := json.Unmarshal(r, &head); err != nil {
			return nil, fmt.Errorf("%s: program %d: %w", path, i+1, err)
		}
		if head.Preset == "" {
			head.Preset = head.Name
		}
		base, ok := presetByName(head.Preset)
		if !ok {
			return nil, fmt.Errorf("%s: program %d (%q): unknown preset %q (presets: %s)", path, i+1, head.Name, head.Preset, strings.Join(PresetNames(), ", "))
		}
		p := base
		p.Rules = base.Rules.clone()
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("%s: program %d (%q): %w", path, i+1, head.Name, err)
		}
		p.Preset = head.Preset
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%s: program %d: %w", path, i+1, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%s: program %d: %q is defined twice", path, i+1, p.Name)
		}
		seen[p.Name] = true
		progs[p.Name] = p
	}
	return progs, nil
}

func presetByName(name string) (Program, bool) {
	for _, p := range presets {
		if p.Name == name {
			return p, true
		}
	}
	return Program{}, false
}

// Validate checks a program's parameters.
func (p *Program) Validate() error {
	if !ValidName(p.Name) {
		return fmt.Errorf("program name %q: use 1 to 64 lowercase letters, digits, '-' or '_'", p.Name)
	}
	if p.WindowDays <= 0 || p.WindowDays > 400 {
		return fmt.Errorf("program %q: window_days %d: want 1 to 400", p.Name, p.WindowDays)
	}
	if p.WindowFrom != FromClick && p.WindowFrom != FromAssociation {
		return fmt.Errorf("program %q: window_from %q: want %q or %q", p.Name, p.WindowFrom, FromClick, FromAssociation)
	}
	if p.ClickParam == "" || !validParam(p.ClickParam) {
		return fmt.Errorf("program %q: click_param %q: use letters, digits, '-', '_' or '.'", p.Name, p.ClickParam)
	}
	for _, n := range p.NetworkParams {
		if !validParam(n) {
			return fmt.Errorf("program %q: network parameter %q: use letters, digits, '-', '_' or '.'", p.Name, n)
		}
	}
	if p.FallbackURL != "" {
		if err := CheckDestination(p.FallbackURL); err != nil {
			return fmt.Errorf("program %q: fallback_url: %w", p.Name, err)
		}
	}
	return p.Rules.validate(p.Name)
}

// ValidName reports whether s can name a program (it becomes part of a cookie name).
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validParam(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// CheckDestination accepts only absolute http and https URLs with a host, without credentials,
// whitespace or control characters: nothing a redirect could turn into script, header injection
// or a disguised host.
func CheckDestination(raw string) error {
	if raw == "" {
		return fmt.Errorf("empty URL")
	}
	if len(raw) > 4096 {
		return fmt.Errorf("URL is %d bytes, at most 4096", len(raw))
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("URL has a control or space character at byte %d", i+1)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("cannot parse URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return fmt.Errorf("URL %q is relative: want an absolute http or https URL", raw)
	default:
		return fmt.Errorf("URL scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("URL %q has no host", raw)
	}
	if u.User != nil {
		return fmt.Errorf("URL %q carries credentials", raw)
	}
	if u.Opaque != "" {
		return fmt.Errorf("URL %q is opaque: want scheme://host/path", raw)
	}
	return nil
}
