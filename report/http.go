package report

import (
	"bufio"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"fmt"
	"github.com/firstclaim/firstclaim/internal/routes"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/internal/csvsafe"
)

// Access says who may read what: the admin token reads everything; each partner token reads one
// partner's numbers and nothing else.
type Access struct {
	Admin    string
	Partners map[string]string // token -> partner id
}

// LoadPartnerTokens reads lines of "partner-id token" ('#' starts a comment).
func LoadPartnerTokens(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read partner tokens: %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || len(f[1]) < 16 {
			return nil, fmt.Errorf("%s:%d: want \"partner-id token\" with a token of 16+ characters", path, n)
		}
		if _, dup := out[f[1]]; dup {
			return nil, fmt.Errorf("%s:%d: a token is given twice", path, n)
		}
		out[f[1]] = f[0]
	}
	return out, sc.Err()
}

// Scope returns "" for the admin, the partner id for a partner token, or ok=false (the links API
// uses it too).
func (a *Access) Scope(r *http.Request) (partner string, ok bool) {
	got, has := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !has || got == "" {
		return "", false
	}
	if a.Admin != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.Admin)) == 1 {
		return "", true
	}
	// Every partner token is compared, so the time taken says nothing about which one matched.
	found, who := false, ""
	for tok, p := range a.Partners {
		if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) == 1 {
			found, who = true, p
		}
	}
	return who, found
}

//go:embed ui.html
var uiPage []byte

// Page is what the handler tells the page about the server.
type Page struct {
	// Geography credits the source of the countries (the built-in database's licence asks for it).
	Geography string
}

// Stores is what the handler reads: the reports' store and the unknown codes'.
type Stores interface {
	Store
	CodeStore
}

// Handler serves GET /api/v1/reports, GET /api/v1/commissions, GET /api/v1/unknown-codes,
// GET /api/v1/whoami and the page at /ui, reading store. Mount it on the admin listener.
//
// A store that fails is answered with a generic error and an id; the detail (which may name a
// ClickHouse host) goes to the log under that id, never to the client.
func Handler(store Stores, access Access, page Page, log *slog.Logger) http.Handler {
	return handler(store, access, page, log)
}

// Routes are the handler's routes, as registered.
func Routes() []string { return handler(nil, Access{}, Page{}, nil).Patterns() }

func handler(store Stores, access Access, page Page, log *slog.Logger) *routes.Mux {
	if log == nil {
		log = slog.Default()
	}
	mux := routes.New()
	fail := func(w http.ResponseWriter, status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	internal := func(w http.ResponseWriter, r *http.Request, what string, err error) {
		id := firstclaim.NewIDString(time.Now())
		log.Error(what+" failed", "error_id", id, "path", r.URL.Path, "err", err)
		fail(w, http.StatusBadGateway, "the "+what+" could not be read just now; try again, or give the operator error id "+id)
	}
	auth := func(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "private, no-store")
			if access.Admin == "" && len(access.Partners) == 0 {
				fail(w, http.StatusForbidden, "reports are off: start the server with --admin-token or --partner-tokens")
				return
			}
			partner, ok := access.Scope(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="firstclaim"`)
				fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			h(w, r, partner)
		}
	}
	rangeOf := func(r *http.Request) (time.Time, time.Time, error) {
		to := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		from := to.Add(-30 * 24 * time.Hour)
		var err error
		if v := r.URL.Query().Get("from"); v != "" {
			if from, err = ParseTime(v); err != nil {
				return from, to, fmt.Errorf("from: %w", err)
			}
		}
		if v := r.URL.Query().Get("to"); v != "" {
			if to, err = ParseTime(v); err != nil {
				return from, to, fmt.Errorf("to: %w", err)
			}
		}
		return from, to, nil
	}
	mux.HandleFunc("GET /api/v1/whoami", auth(func(w http.ResponseWriter, r *http.Request, partner string) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"partner": partner, "admin": partner == "", "geography": page.Geography})
	}))
	mux.HandleFunc("GET /api/v1/reports", auth(func(w http.ResponseWriter, r *http.Request, partner string) {
		p := r.URL.Query()
		from, to, err := rangeOf(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		q := Query{From: from, To: to, Partner: partner}
		if q.By, err = ParseBy(p.Get("by")); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		if q.Where, err = ParseWhere(p.Get("where")); err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		q.IncludeBots = p.Get("include_bots") == "1" || p.Get("include_bots") == "true"
		q.ExactVisitors = p.Get("exact_visitors") == "1" || p.Get("exact_visitors") == "true"
		if v := p.Get("limit"); v != "" {
			if q.Limit, err = strconv.Atoi(v); err != nil || q.Limit <= 0 || q.Limit > 100_000 {
				fail(w, http.StatusBadRequest, "limit: want 1 to 100000")
				return
			}
		}
		if err := q.Validate(); err != nil {
			status := http.StatusBadRequest
			if partner != "" && strings.Contains(err.Error(), "reads partner") {
				status = http.StatusForbidden
			}
			fail(w, status, err.Error())
			return
		}
		res, err := Run(r.Context(), store, q)
		if err != nil {
			internal(w, r, "report", err)
			return
		}
		if p.Get("format") == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="firstclaim-report.csv"`)
			res.WriteCSV(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		res.WriteJSON(w)
	}))
	mux.HandleFunc("GET /api/v1/commissions", auth(func(w http.ResponseWriter, r *http.Request, partner string) {
		p := r.URL.Query()
		from, to, err := rangeOf(r)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		q := LinesQuery{From: from, To: to, Partner: p.Get("partner"), Program: p.Get("program")}
		if partner != "" {
			if q.Partner != "" && q.Partner != partner {
				fail(w, http.StatusForbidden, fmt.Sprintf("this token reads partner %q only", partner))
				return
			}
			q.Partner = partner
		}
		lines, err := Lines(r.Context(), store, q)
		if err != nil {
			internal(w, r, "commission lines", err)
			return
		}
		if p.Get("format") == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="firstclaim-commissions.csv"`)
			cw := csvsafe.NewWriter(w)
			cw.Write(attribution.CSVHeader())
			for i := range lines {
				cw.Write(lines[i].CSVRecord())
			}
			cw.Flush()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		out := make([]json.RawMessage, len(lines))
		for i := range lines {
			out[i], _ = json.Marshal(lines[i])
		}
		json.NewEncoder(w).Encode(map[string]any{"lines": out})
	}))
	mux.HandleFunc("GET /api/v1/unknown-codes", auth(func(w http.ResponseWriter, r *http.Request, partner string) {
		if partner != "" {
			fail(w, http.StatusForbidden, "the codes asked for that are no link are the operator's: use the admin token")
			return
		}
		from, to, err := rangeOf(r)
		if err == nil && !to.After(from) {
			err = fmt.Errorf("want a time range with from before to")
		}
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		limit := 100
		if v := r.URL.Query().Get("limit"); v != "" {
			if limit, err = strconv.Atoi(v); err != nil || limit <= 0 || limit > 10_000 {
				fail(w, http.StatusBadRequest, "limit: want 1 to 10000")
				return
			}
		}
		codes, err := store.UnknownCodes(r.Context(), from, to, limit)
		if err != nil {
			internal(w, r, "unknown codes", err)
			return
		}
		out := make([]map[string]any, len(codes))
		for i, c := range codes {
			out[i] = map[string]any{"code": c.Code, "hits": c.Hits, "first_seen": c.FirstSeen.Format(time.RFC3339), "last_seen": c.LastSeen.Format(time.RFC3339)}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"codes": out})
	}))
	mux.HandleFunc("GET /ui", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Write(uiPage)
	})
	return mux
}
