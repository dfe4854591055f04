package postback

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

// Network is one affiliate network's postback configuration.
type Network struct {
	Name     string   `json:"name"`
	Programs []string `json:"programs"` // lines of these programs that carry a network click id go to it
	URL      string   `json:"url"`      // template, for example https://net.example/pb?cid={network_click_id}&amount={base}
	Method   string   `json:"method"`   // GET (default) or POST
	Statuses []string `json:"statuses"` // which statuses are reported; default pending, approved, rejected
	Lines    []string `json:"lines"`    // which line kinds; default every kind

	// Signing: with a secret, the request carries hex HMAC-SHA256 of the filled URL's path and query
	// under it, in the header SignHeader (default X-Signature) or, with SignParam, as that query
	// parameter appended last.
	Secret     string `json:"secret"`
	SignHeader string `json:"sign_header"`
	SignParam  string `json:"sign_param"`

	Timeout     Duration `json:"timeout"`      // one attempt; default 5 s
	MaxAttempts int      `json:"max_attempts"` // default 5
}

// Duration reads "5s" in JSON.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"5s\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		return fmt.Errorf("duration %q: want one such as \"5s\"", s)
	}
	d.Duration = v
	return nil
}

// Placeholders lists the names a template may use in braces.
func Placeholders() []string { return slices.Clone(placeholders) }

var placeholders = []string{"click_id", "network_click_id", "order_id", "ref", "line", "partner_id", "program",
	"account_id", "base", "commission", "currency", "status", "reason", "payable_on"}

var placeholder = regexp.MustCompile(`\{([a-z_]*)\}`)

// LoadNetworks reads a JSON array of networks and checks each.
func LoadNetworks(path string) ([]Network, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read networks: %w", err)
	}
	var nets []Network
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&nets); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	seen := map[string]bool{}
	for i := range nets {
		if err := nets[i].check(); err != nil {
			return nil, fmt.Errorf("%s: network %d: %w", path, i+1, err)
		}
		if seen[nets[i].Name] {
			return nil, fmt.Errorf("%s: network %q is defined twice", path, nets[i].Name)
		}
		seen[nets[i].Name] = true
	}
	return nets, nil
}

func (n *Network) check() error {
	if !attribution.ValidName(n.Name) {
		return fmt.Errorf("name %q: use lowercase letters, digits, '-' or '_'", n.Name)
	}
	if len(n.Programs) == 0 {
		return fmt.Errorf("%s: programs: name the programs whose lines go to this network", n.Name)
	}
	for _, m := range placeholder.FindAllStringSubmatch(n.URL, -1) {
		if !slices.Contains(placeholders, m[1]) {
			return fmt.Errorf("%s: url: unknown placeholder {%s} (placeholders: %s)", n.Name, m[1], strings.Join(placeholders, ", "))
		}
	}
	// A value may only fill the path and the query: in the scheme, host or port, a click id (which
	// comes from the visitor's URL) would choose where the request goes.
	if _, rest, _ := strings.Cut(n.URL, "://"); strings.ContainsRune(rest[:authorityEnd(rest)], '{') {
		return fmt.Errorf("%s: url: placeholders may fill the path and the query only, not the host or port", n.Name)
	}
	if i := strings.IndexByte(n.URL, '#'); i >= 0 && strings.ContainsRune(n.URL[i:], '{') {
		return fmt.Errorf("%s: url: placeholders may fill the path and the query only, not the fragment", n.Name)
	}
	probe := placeholder.ReplaceAllString(n.URL, "x")
	if err := attribution.CheckDestination(probe); err != nil {
		return fmt.Errorf("%s: url: %w", n.Name, err)
	}
	switch strings.ToUpper(n.Method) {
	case "", "GET":
		n.Method = "GET"
	case "POST":
		n.Method = "POST"
	default:
		return fmt.Errorf("%s: method %q: want GET or POST", n.Name, n.Method)
	}
	if len(n.Statuses) == 0 {
		n.Statuses = []string{attribution.StatusPending, attribution.StatusApproved, attribution.StatusRejected}
	}
	for _, s := range n.Statuses {
		if s != attribution.StatusPending && s != attribution.StatusApproved && s != attribution.StatusRejected {
			return fmt.Errorf("%s: statuses: %q is not pending, approved or rejected", n.Name, s)
		}
	}
	if n.Secret != "" && len(n.Secret) < 16 {
		return fmt.Errorf("%s: secret: use 16 bytes or more", n.Name)
	}
	if n.SignHeader == "" {
		n.SignHeader = "X-Signature"
	}
	if n.Timeout.Duration == 0 {
		n.Timeout.Duration = 5 * time.Second
	}
	if n.MaxAttempts <= 0 {
		n.MaxAttempts = 5
	}
	return nil
}

// authorityEnd is where the host and port of the rest of a URL after "://" end.
func authorityEnd(rest string) int {
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return i
	}
	return len(rest)
}

// Wants reports whether the network takes this line.
func (n *Network) Wants(l *attribution.Line) bool {
	return l.NetworkClickID != "" && slices.Contains(n.Programs, l.Program) && slices.Contains(n.Statuses, l.Status) &&
		(len(n.Lines) == 0 || slices.Contains(n.Lines, l.Line))
}

// Fill returns the template with the line's values, each query-escaped.
func (n *Network) Fill(l *attribution.Line) string {
	vals := map[string]string{
		"click_id": l.ClickID, "network_click_id": l.NetworkClickID, "order_id": l.Ref, "ref": l.Ref, "line": l.Line,
		"partner_id": l.PartnerID, "program": l.Program, "account_id": l.AccountID, "base": l.BaseText(),
		"commission": attribution.FormatAmount(l.Commission, l.Currency), "currency": l.Currency, "status": l.Status,
		"reason": l.Reason, "payable_on": l.PayableText(),
	}
	return placeholder.ReplaceAllStringFunc(n.URL, func(m string) string {
		return url.QueryEscape(vals[m[1:len(m)-1]])
	})
}
