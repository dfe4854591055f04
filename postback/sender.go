package postback

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/sink"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

// SQL returns the embedded query sql/NAME.sql.
func SQL(name string) string {
	b, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(strings.TrimSpace(string(b)), ";")
}

// Sender sends postbacks and records every attempt.
type Sender struct {
	Conn       driver.Conn
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

// attempt is one row of the postbacks table.
type attempt struct {
	network, program, line, ref, status, url, err string
	n                                             uint16
	ts                                            time.Time
	httpStatus                                    uint16
	ok                                            bool
}

type key struct{ program, line, ref, status string }

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
	sent := map[key]bool{}
	rows, err := s.Conn.Query(ctx, SQL("sent"), n.Name)
	if err != nil {
		return res, fmt.Errorf("cannot read the postbacks sent to %s: %w", n.Name, err)
	}
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.program, &k.line, &k.ref, &k.status); err != nil {
			rows.Close()
			return res, err
		}
		sent[k] = true
	}
	rows.Close()
	var due []*attribution.Line
	for i := range lines {
		l := &lines[i]
		if !n.Wants(l) {
			continue
		}
		if sent[key{l.Program, l.Line, l.Ref, l.Status}] {
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
	var attempts []attempt
	record := func(a attempt) {
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
	if err := s.save(rctx, attempts); err != nil {
		return res, err
	}
	return res, nil
}

// deliver sends one line, retrying what a retry can fix, and says whether the network took it.
func (s *Sender) deliver(ctx context.Context, n *Network, l *attribution.Line, record func(attempt)) bool {
	target := n.Fill(l)
	sig := ""
	if n.Secret != "" {
		u, _ := url.Parse(target)
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
		a := attempt{network: n.Name, program: l.Program, line: l.Line, ref: l.Ref, status: l.Status, url: target, n: uint16(try), ts: s.Now()}
		actx, cancel := context.WithTimeout(ctx, n.Timeout.Duration)
		req, _ := http.NewRequestWithContext(actx, n.Method, target, nil)
		req.Header.Set("User-Agent", "firstclaim-postback/1")
		if sig != "" && n.SignParam == "" {
			req.Header.Set(n.SignHeader, "sha256="+sig)
		}
		resp, err := s.Client.Do(req)
		retry := true
		if err != nil {
			a.err = err.Error()
		} else {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			a.httpStatus = uint16(resp.StatusCode)
			switch {
			case resp.StatusCode >= 200 && resp.StatusCode < 300:
				a.ok = true
			case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 500:
				a.err = resp.Status
			default:
				a.err = resp.Status // the network refuses this postback: sending it again will not help
				retry = false
			}
		}
		cancel()
		record(a)
		if a.ok {
			return true
		}
		if !retry || try == n.MaxAttempts {
			s.Log.Warn("postback refused", "network", n.Name, "line", l.Line, "ref", l.Ref, "status", l.Status, "attempts", try, "last", a.err)
			return false
		}
		// Full jitter, capped: many lines failing at once do not come back in lockstep.
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, s.MaxBackoff)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return false
		}
	}
	return false
}

func (s *Sender) save(ctx context.Context, attempts []attempt) error {
	err := sink.Insert(ctx, s.Conn, "INSERT INTO postbacks (network, program, line, ref, status, url, attempt, ts, http_status, error, ok)",
		len(attempts), func(bt driver.Batch, i int) error {
			a := &attempts[i]
			ok := uint8(0)
			if a.ok {
				ok = 1
			}
			return bt.Append(a.network, a.program, a.line, a.ref, a.status, a.url, a.n, a.ts.UTC().Truncate(time.Second),
				a.httpStatus, a.err, ok)
		})
	if err != nil {
		return fmt.Errorf("cannot record %d postback attempts: %w", len(attempts), err)
	}
	return nil
}

// ExportRow is one partner's month for a network.
type ExportRow struct {
	PartnerID, Currency string
	Orders, Leads       uint64
	Amount, Commission  int64
}

// Export returns a network's monthly statement: per partner, the effective commissionable order
// amount and the leads of month (YYYY-MM), from the current commission lines.
func Export(ctx context.Context, conn driver.Conn, n *Network, month string) ([]ExportRow, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return nil, fmt.Errorf("month %q: want YYYY-MM", month)
	}
	rows, err := conn.Query(ctx, SQL("export"), n.Programs, start, start.AddDate(0, 1, 0))
	if err != nil {
		return nil, fmt.Errorf("cannot read the month's lines: %w", err)
	}
	defer rows.Close()
	var out []ExportRow
	for rows.Next() {
		var r ExportRow
		if err := rows.Scan(&r.PartnerID, &r.Currency, &r.Orders, &r.Amount, &r.Leads, &r.Commission); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
