package postback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
)

// Store keeps every postback attempt and says which lines a network has settled. The ClickHouse
// adapter is the product's (the postbacks table).
type Store interface {
	// Settled returns the lines and statuses a network has acknowledged: those are never sent again.
	Settled(ctx context.Context, network string) (map[Key]bool, error)
	SaveAttempts(ctx context.Context, attempts []Attempt) error
}

// Key is a line in one status: what a network is told once.
type Key struct{ Program, Line, Ref, Status string }

// Attempt is one request to a network and what came back.
type Attempt struct {
	Network, Program, Line, Ref, Status, URL, Error string
	N                                               uint16 // 1 for the first attempt
	TS                                              time.Time
	HTTPStatus                                      uint16 // 0 when no answer came
	OK                                              bool
}

// Sender sends postbacks and records every attempt.
type Sender struct {
	Store      Store
	Client     *http.Client // default: a client without redirects
	Workers    int          // requests in flight per network; default 4
	MinBackoff time.Duration
	MaxBackoff time.Duration
	Log        *slog.Logger
	Now        func() time.Time
}

// Result says what Send did for one network.
type Result struct {
	Network                  string
	Due, Sent, Failed, Known int // Known: already acknowledged in an earlier run
	Attempts                 int
}

// Send reports lines to each network that wants them, once per line and status. It stops sending
// when ctx ends (lines left are sent by the next run) and records every attempt it made.
func (s *Sender) Send(ctx context.Context, nets []Network, lines []attribution.Line) ([]Result, error) {
	if s.Client == nil {
		s.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if s.Workers <= 0 {
		s.Workers = 4
	}
	if s.MinBackoff <= 0 {
		s.MinBackoff = 200 * time.Millisecond
	}
	if s.MaxBackoff <= 0 {
		s.MaxBackoff = 10 * time.Second
	}
	if s.Log == nil {
		s.Log = slog.Default()
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	var out []Result
	for i := range nets {
		n := &nets[i]
		res, err := s.sendNetwork(ctx, n, lines)
		out = append(out, res)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (s *Sender) sendNetwork(ctx context.Context, n *Network, lines []attribution.Line) (Result, error) {
	res := Result{Network: n.Name}
	sent, err := s.Store.Settled(ctx, n.Name)
	if err != nil {
		return res, fmt.Errorf("cannot read the postbacks sent to %s: %w", n.Name, err)
	}
	var due []*attribution.Line
	for i := range lines {
		l := &lines[i]
		if !n.Wants(l) {
			continue
		}
		if sent[Key{l.Program, l.Line, l.Ref, l.Status}] {
			res.Known++
			continue
		}
		due = append(due, l)
	}
	res.Due = len(due)
	if len(due) == 0 {
		return res, nil
	}
	var mu sync.Mutex
	var attempts []Attempt
	record := func(a Attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	jobs := make(chan *attribution.Line)
	var wg sync.WaitGroup
	for w := 0; w < s.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for l := range jobs {
				ok := s.deliver(ctx, n, l, record)
				mu.Lock()
				if ok {
					res.Sent++
				} else {
					res.Failed++
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, l := range due {
		select {
		case jobs <- l:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	res.Attempts = len(attempts)
	// Recorded with a context of its own: a run that ran out of time still keeps what it did.
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Store.SaveAttempts(rctx, attempts); err != nil {
		return res, fmt.Errorf("cannot record %d postback attempts: %w", len(attempts), err)
	}
	return res, nil
}

// deliver sends one line, retrying what a retry can fix, and says whether the network took it.
func (s *Sender) deliver(ctx context.Context, n *Network, l *attribution.Line, record func(Attempt)) bool {
	target := n.Fill(l)
	u, err := url.Parse(target)
	if err != nil {
		// The template was checked when the networks file was loaded; a value that still breaks the
		// URL is this line's, and no retry mends it.
		record(Attempt{Network: n.Name, Program: l.Program, Line: l.Line, Ref: l.Ref, Status: l.Status, URL: target, N: 1,
			TS: s.Now(), Error: "cannot build the URL: " + err.Error()})
		s.Log.Warn("postback not sent", "network", n.Name, "line", l.Line, "ref", l.Ref, "err", err)
		return false
	}
	sig := ""
	if n.Secret != "" {
		m := hmac.New(sha256.New, []byte(n.Secret))
		m.Write([]byte(u.RequestURI()))
		sig = hex.EncodeToString(m.Sum(nil))
		if n.SignParam != "" {
			sep := "?"
			if u.RawQuery != "" {
				sep = "&"
			}
			target += sep + url.QueryEscape(n.SignParam) + "=" + sig
		}
	}
	backoff := s.MinBackoff
	for try := 1; try <= n.MaxAttempts; try++ {
		a := Attempt{Network: n.Name, Program: l.Program, Line: l.Line, Ref: l.Ref, Status: l.Status, URL: target, N: uint16(try), TS: s.Now()}
		actx, cancel := context.WithTimeout(ctx, n.Timeout.Duration)
		req, err := http.NewRequestWithContext(actx, n.Method, target, nil)
		if err != nil {
			cancel()
			a.Error = "cannot build the request: " + err.Error()
			record(a)
			s.Log.Warn("postback not sent", "network", n.Name, "line", l.Line, "ref", l.Ref, "err", err)
			return false
		}
		req.Header.Set("User-Agent", "firstclaim-postback/1")
		if sig != "" && n.SignParam == "" {
			req.Header.Set(n.SignHeader, "sha256="+sig)
		}
		resp, err := s.Client.Do(req)
		retry := true
		if err != nil {
			a.Error = err.Error()
		} else {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.HTTPStatus = uint16(resp.StatusCode)
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				a.OK = true
			case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 500:
				a.Error = resp.Status
			default:
				a.Error = resp.Status // the network refuses this postback: sending it again will not help
				retry = false
			}
		}
		cancel()
		record(a)
		if a.OK {
			return true
		}
		if !retry || try == n.MaxAttempts {
			s.Log.Warn("postback refused", "network", n.Name, "line", l.Line, "ref", l.Ref, "status", l.Status, "attempts", try, "last", a.Error)
			return false
		}
		// Full jitter, capped: many lines failing at once do not come back in lockstep.
		wait := rand.N(backoff + 1)
		backoff = min(2*backoff, s.MaxBackoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
	return false
}

// ExportRow is one partner's month for a network.
type ExportRow struct {
	PartnerID, Currency string
	Orders, Leads       uint64
	Amount, Commission  int64
}

// StatementStore sums the current commission lines of some programs whose events fall in
// [from, to), per partner and currency.
type StatementStore interface {
	Statement(ctx context.Context, programs []string, from, to time.Time) ([]ExportRow, error)
}

// Export returns a network's monthly statement: per partner, the effective commissionable order
// amount and the leads of month (YYYY-MM), from the current commission lines.
func Export(ctx context.Context, store StatementStore, n *Network, month string) ([]ExportRow, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return nil, fmt.Errorf("month %q: want YYYY-MM", month)
	}
	rows, err := store.Statement(ctx, n.Programs, start, start.AddDate(0, 1, 0))
	if err != nil {
		return nil, fmt.Errorf("cannot read the month's lines: %w", err)
	}
	return rows, nil
}
