package links

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	qr "github.com/piglig/go-qr"

	"github.com/firstclaim/firstclaim/internal/csvsafe"
	"github.com/firstclaim/firstclaim/internal/routes"
	"github.com/firstclaim/firstclaim/redirect"
)

// MaxBulk is the most links one POST may create.
const MaxBulk = 100_000

// maxErrors is the most refused links one answer names: a body of a million bad lines is refused
// at the hundredth.
const maxErrors = 100

var errTooMany = fmt.Sprintf("more than %d links: send at most %d per request", MaxBulk, MaxBulk)

// maxBody caps a POST's body: 100,000 links of a few hundred bytes each.
const maxBody = 64 << 20

// APIOptions configure the links API.
type APIOptions struct {
	Catalog *Catalog
	// Scope says who sends a request: partner "" for the admin, a partner id for a partner's
	// token; ok false when the token is missing or wrong (the report package's Access.Scope).
	Scope func(r *http.Request) (partner string, ok bool)
	// KnownProgram says which programs a link may name (the server's programs).
	KnownProgram func(name string) bool
	// PublicURL, when set, is the public listener's address as visitors reach it
	// (https://go.example.com): each link's short_url is PublicURL/r/CODE.
	PublicURL string
	Logger    *slog.Logger
}

// Routes are the links API's routes, as registered (the OpenAPI document's test reads them).
func Routes() []string {
	return []string{
		"POST /api/v1/links",
		"GET /api/v1/links",
		"GET /api/v1/links/{code}",
		"PATCH /api/v1/links/{code}",
		"DELETE /api/v1/links/{code}",
		"GET /api/v1/links/{code}/history",
		"GET /api/v1/links/{code}/qr.png",
		"GET /api/v1/links/{code}/qr.svg",
	}
}

// Handler serves the links API (Routes) on the admin listener.
func Handler(opts APIOptions) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &api{APIOptions: opts}
	mux := routes.New()
	handlers := []http.HandlerFunc{a.create, a.list, a.get, a.patch, a.disable, a.history, a.qr("png"), a.qr("svg")}
	for i, route := range Routes() {
		mux.Handle(route, a.auth(handlers[i]))
	}
	return mux
}

type api struct{ APIOptions }

type ctxKey struct{}

// auth answers 401 without a valid token and passes the caller's partner ("" for the admin).
func (a *api) auth(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		partner, ok := a.Scope(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="firstclaim"`)
			fail(w, http.StatusUnauthorized, "missing or wrong bearer token (the admin token, or a partner's token)")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, partner)))
	})
}

// partnerOf is the caller's partner: "" for the admin.
func partnerOf(r *http.Request) string { p, _ := r.Context().Value(ctxKey{}).(string); return p }

func actorOf(partner string) string {
	if partner == "" {
		return "admin"
	}
	return "partner:" + partner
}

// linkJSON is a link as the API shows it.
type linkJSON struct {
	Code      string     `json:"code"`
	URL       string     `json:"url"`
	Partner   string     `json:"partner"`
	Program   string     `json:"program"`
	Campaign  string     `json:"campaign"`
	Status    string     `json:"status"`
	ExpiresAt *time.Time `json:"expires_at"`
	ShortURL  string     `json:"short_url,omitempty"`
	Version   uint64     `json:"version,omitempty"`
	Op        string     `json:"op,omitempty"`
	Actor     string     `json:"changed_by,omitempty"`
	WrittenAt *time.Time `json:"changed_at,omitempty"`
}

func (a *api) show(v *Version) linkJSON {
	j := linkJSON{Code: v.Code, URL: v.URL, Partner: v.PartnerID, Program: v.Program, Campaign: v.Campaign, Status: v.Status,
		Version: v.Version, Op: v.Op, Actor: v.Actor}
	if !v.ExpiresAt.IsZero() {
		t := v.ExpiresAt.UTC()
		j.ExpiresAt = &t
	}
	if !v.WrittenAt.IsZero() && v.WrittenAt.Unix() > 0 {
		t := v.WrittenAt.UTC()
		j.WrittenAt = &t
	}
	if a.PublicURL != "" {
		j.ShortURL = strings.TrimSuffix(a.PublicURL, "/") + "/r/" + v.Code
	}
	return j
}

// fieldError is one refused field, of one line of a bulk body.
type fieldError struct {
	Line    int    `json:"line,omitempty"`  // of the body (CSV, NDJSON, JSON)
	Index   *int   `json:"index,omitempty"` // of the link in the body, from 0
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func fail(w http.ResponseWriter, status int, msg string, errs ...fieldError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	body := map[string]any{"error": msg}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	json.NewEncoder(w).Encode(body)
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

// inputLink is a link as a POST names it. Unknown fields are refused.
type inputLink struct {
	Code      string  `json:"code"`
	URL       string  `json:"url"`
	Partner   string  `json:"partner"`
	Program   string  `json:"program"`
	Campaign  string  `json:"campaign"`
	Status    string  `json:"status"`
	ExpiresAt *string `json:"expires_at"`
}

// create: POST /api/v1/links with one link (a JSON object) or many (a JSON array, NDJSON, or CSV
// with the links file's header), all or none.
func (a *api) create(w http.ResponseWriter, r *http.Request) {
	partner := partnerOf(r)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is over %d MiB: send at most %d links per request", maxBody>>20, MaxBulk))
			return
		}
		fail(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return
	}
	links, lines, single, errs := decodeLinks(r.Header.Get("Content-Type"), body)
	if len(errs) == 1 && errs[0].Message == errTooMany {
		fail(w, http.StatusRequestEntityTooLarge, errTooMany)
		return
	}
	if len(errs) > 0 {
		fail(w, http.StatusBadRequest, "the body is not links: "+errs[0].Message, errs...)
		return
	}
	if len(links) == 0 {
		fail(w, http.StatusBadRequest, "no links in the body")
		return
	}
	if len(links) > MaxBulk {
		fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("%d links: at most %d per request", len(links), MaxBulk))
		return
	}
	seen := make(map[string]int, len(links))
	var forbidden []fieldError
	for i := range links {
		l := &links[i]
		idx := i
		if partner != "" {
			if l.PartnerID == "" {
				l.PartnerID = partner
			} else if l.PartnerID != partner {
				forbidden = append(forbidden, fieldError{Line: lines[i], Index: &idx, Field: "partner",
					Message: fmt.Sprintf("this token creates links of partner %q only", partner)})
				continue
			}
		}
		if l.Code == "" {
			// generated later; check the rest with a placeholder code
			l.Code = "x"
			err := redirect.CheckLink(l, a.KnownProgram)
			l.Code = ""
			if err != nil {
				errs = append(errs, asFieldError(err, lines[i], idx))
			}
			continue
		}
		if err := redirect.CheckLink(l, a.KnownProgram); err != nil {
			if errs = append(errs, asFieldError(err, lines[i], idx)); len(errs) == maxErrors {
				break
			}
			continue
		}
		if first, dup := seen[l.Code]; dup {
			errs = append(errs, fieldError{Line: lines[i], Index: &idx, Field: "code", Message: fmt.Sprintf("code %q is also on line %d", l.Code, first)})
			continue
		}
		seen[l.Code] = lines[i]
	}
	if len(forbidden) > 0 {
		fail(w, http.StatusForbidden, fmt.Sprintf("%d links name another partner", len(forbidden)), forbidden...)
		return
	}
	if len(errs) > 0 {
		fail(w, http.StatusBadRequest, fmt.Sprintf("%d of %d links refused; none created", len(errs), len(links)), errs...)
		return
	}
	actor := actorOf(partner)
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		fail(w, http.StatusBadRequest, "Idempotency-Key is over 200 bytes")
		return
	}
	if key != "" {
		prev, err := a.Catalog.Replayed(r.Context(), actor, key)
		if err != nil {
			a.Logger.Error("cannot read the links of an earlier request", "err", err)
			fail(w, http.StatusServiceUnavailable, "cannot reach ClickHouse; nothing was created, try again")
			return
		}
		if len(prev) > 0 {
			// The same key must come with the same links: a different body under a used key is
			// a mistake to report, not a request to answer with the first one's links.
			same := len(prev) == len(links)
			for i := 0; same && i < len(links); i++ {
				want := links[i]
				if want.Code == "" {
					want.Code = prev[i].Code
				}
				same = prev[i].PartnerID == partner || partner == ""
				same = same && want.Code == prev[i].Code && want.URL == prev[i].URL && want.PartnerID == prev[i].PartnerID &&
					want.Program == prev[i].Program && want.Campaign == prev[i].Campaign && want.ExpiresAt.Equal(prev[i].ExpiresAt)
			}
			if !same {
				fail(w, http.StatusUnprocessableEntity, "this Idempotency-Key was used for a different request; use a new key for new links")
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			a.replyLinks(w, http.StatusOK, prev, nil, single)
			return
		}
	}
	res, err := a.Catalog.Create(r.Context(), links, actor, key)
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		var fe []fieldError
		for _, c := range conflict.Conflicts {
			idx := c.Index
			fe = append(fe, fieldError{Line: lines[c.Index], Index: &idx, Field: "code", Message: fmt.Sprintf("code %q is taken by another link", c.Code)})
		}
		fail(w, http.StatusConflict, fmt.Sprintf("%d codes are taken; none created", len(fe)), fe...)
		return
	case err != nil:
		a.Logger.Error("cannot create links", "err", err)
		fail(w, http.StatusServiceUnavailable, "cannot write the links to ClickHouse; nothing was created, try again")
		return
	}
	status := http.StatusOK
	for _, c := range res.Created {
		if c {
			status = http.StatusCreated
		}
	}
	a.replyLinks(w, status, res.Links, res.Created, single)
}

func (a *api) replyLinks(w http.ResponseWriter, status int, vs []Version, created []bool, single bool) {
	if single && len(vs) == 1 {
		reply(w, status, a.show(&vs[0]))
		return
	}
	out := make([]linkJSON, len(vs))
	n := 0
	for i := range vs {
		out[i] = a.show(&vs[i])
		if created == nil || created[i] {
			n++
		}
	}
	if created == nil {
		n = 0
	}
	reply(w, status, map[string]any{"links": out, "created": n, "unchanged": len(vs) - n})
}

func asFieldError(err error, line, idx int) fieldError {
	fe := fieldError{Line: line, Index: &idx, Message: err.Error()}
	var f *redirect.FieldError
	if errors.As(err, &f) {
		fe.Field = f.Field
	}
	return fe
}

// decodeLinks reads a POST's links by its media type (JSON also without one), with the line each
// starts on. single is a lone JSON object.
func decodeLinks(contentType string, body []byte) (links []redirect.Link, lines []int, single bool, errs []fieldError) {
	mt, _, _ := mime.ParseMediaType(contentType)
	trimmed := bytes.TrimLeft(body, " \t\r\n\ufeff")
	switch {
	case mt == "text/csv":
		links, lines, err := redirect.DecodeLinksCSV(body, MaxBulk)
		if errors.Is(err, redirect.ErrTooManyLinks) {
			return nil, nil, false, []fieldError{{Message: errTooMany}}
		}
		if err != nil {
			return nil, nil, false, []fieldError{lineError(err)}
		}
		return links, lines, false, nil
	case mt == "application/x-ndjson" || mt == "application/jsonl":
		line := 0
		for len(body) > 0 {
			var raw []byte
			raw, body, _ = bytes.Cut(body, []byte("\n"))
			line++
			if len(bytes.TrimSpace(raw)) == 0 {
				continue
			}
			if len(links)+len(errs) == MaxBulk {
				return nil, nil, false, []fieldError{{Message: errTooMany}}
			}
			l, fe := decodeOne(raw)
			if fe != nil {
				fe.Line = line
				if errs = append(errs, *fe); len(errs) == maxErrors {
					return nil, nil, false, errs
				}
				continue
			}
			links, lines = append(links, l), append(lines, line)
		}
		return links, lines, false, errs
	case mt == "application/json" || mt == "":
		// An array of objects, or objects one after another (one object, pretty-printed or
		// not, is a single link).
		inArray := len(trimmed) > 0 && trimmed[0] == '['
		if !inArray && (len(trimmed) == 0 || trimmed[0] != '{') {
			return nil, nil, false, []fieldError{{Line: 1, Message: "want a JSON object or an array of them"}}
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		if inArray {
			dec.Token()
		}
		lc := redirect.NewLineCounter(body)
		n := 0
		for ; dec.More(); n++ {
			if n == MaxBulk {
				return nil, nil, false, []fieldError{{Message: errTooMany}}
			}
			var raw json.RawMessage
			start := int(dec.InputOffset())
			if err := dec.Decode(&raw); err != nil {
				errs = append(errs, fieldError{Line: lc.At(min(dec.InputOffset(), int64(len(body)))), Message: "not JSON: " + err.Error()})
				return nil, nil, false, errs
			}
			// The element starts after the separator and the space before it.
			for start < len(body) && strings.IndexByte(", \t\r\n\ufeff", body[start]) >= 0 {
				start++
			}
			line := lc.At(int64(start))
			l, fe := decodeOne(raw)
			if fe != nil {
				idx := n
				fe.Line, fe.Index = line, &idx
				if errs = append(errs, *fe); len(errs) == maxErrors {
					return nil, nil, false, errs
				}
				continue
			}
			links, lines = append(links, l), append(lines, line)
		}
		if inArray {
			if _, err := dec.Token(); err != nil {
				return nil, nil, false, append(errs, fieldError{Line: lc.At(int64(len(body))), Message: "the array does not end: " + err.Error()})
			}
			if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
				return nil, nil, false, append(errs, fieldError{Line: lc.At(int64(len(body))), Message: "text after the array"})
			}
		}
		return links, lines, !inArray && n == 1, errs
	}
	return nil, nil, false, []fieldError{{Message: fmt.Sprintf("Content-Type %q: send application/json (an object or an array), application/x-ndjson or text/csv", contentType)}}
}

func lineError(err error) fieldError {
	var le *redirect.LoadError
	if errors.As(err, &le) {
		return fieldError{Line: le.Line, Message: le.Err.Error()}
	}
	return fieldError{Message: err.Error()}
}

func decodeOne(raw []byte) (redirect.Link, *fieldError) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var in inputLink
	if err := dec.Decode(&in); err != nil {
		fe := &fieldError{Message: err.Error()}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			fe.Field = ute.Field
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			fe.Field = strings.Trim(f, `"`)
			fe.Message = fmt.Sprintf("unknown field %s (want code, url, partner, program, campaign, status, expires_at)", f)
		}
		return redirect.Link{}, fe
	}
	if dec.More() {
		return redirect.Link{}, &fieldError{Message: "more than one JSON value on the line"}
	}
	l := redirect.Link{Code: in.Code, URL: in.URL, PartnerID: in.Partner, Program: in.Program, Campaign: in.Campaign, Status: strings.ToLower(in.Status)}
	if in.ExpiresAt != nil && *in.ExpiresAt != "" {
		t, err := time.Parse(time.RFC3339, *in.ExpiresAt)
		if err != nil {
			return l, &fieldError{Field: "expires_at", Message: fmt.Sprintf("expires_at %q: want an RFC 3339 time such as 2026-12-31T23:59:59Z", *in.ExpiresAt)}
		}
		l.ExpiresAt = t.UTC()
	}
	return l, nil
}

// get: GET /api/v1/links/{code}.
func (a *api) get(w http.ResponseWriter, r *http.Request) {
	v, ok := a.visible(w, r)
	if !ok {
		return
	}
	reply(w, http.StatusOK, a.show(&v))
}

// visible finds the link of the request's code that the caller may see, or answers 404 / 403.
func (a *api) visible(w http.ResponseWriter, r *http.Request) (Version, bool) {
	code := r.PathValue("code")
	v, ok := a.Catalog.Get(code)
	if !ok {
		fail(w, http.StatusNotFound, fmt.Sprintf("no link has the code %q", code))
		return v, false
	}
	if p := partnerOf(r); p != "" && v.PartnerID != p {
		fail(w, http.StatusForbidden, fmt.Sprintf("this token reads and changes the links of partner %q only", p))
		return v, false
	}
	return v, true
}

// patch: PATCH /api/v1/links/{code} with a JSON object of the fields to change: url, status,
// expires_at (null or "" for never), campaign.
func (a *api) patch(w http.ResponseWriter, r *http.Request) {
	cur, ok := a.visible(w, r)
	if !ok {
		return
	}
	var fields map[string]json.RawMessage
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&fields); err != nil {
		fail(w, http.StatusBadRequest, "want a JSON object of the fields to change (url, status, expires_at, campaign): "+err.Error())
		return
	}
	var errs []fieldError
	str := func(name string, raw json.RawMessage) (string, bool) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			errs = append(errs, fieldError{Field: name, Message: name + " must be a string"})
			return "", false
		}
		return s, true
	}
	var steps []func(*redirect.Link)
	for name, raw := range fields {
		switch name {
		case "url", "campaign", "status":
			if s, ok := str(name, raw); ok {
				steps = append(steps, func(l *redirect.Link) {
					switch name {
					case "url":
						l.URL = s
					case "campaign":
						l.Campaign = s
					case "status":
						l.Status = strings.ToLower(s)
					}
				})
			}
		case "expires_at":
			var s *string
			if err := json.Unmarshal(raw, &s); err != nil {
				errs = append(errs, fieldError{Field: name, Message: "expires_at must be an RFC 3339 time, \"\" or null"})
				continue
			}
			var t time.Time
			if s != nil && *s != "" {
				var err error
				if t, err = time.Parse(time.RFC3339, *s); err != nil {
					errs = append(errs, fieldError{Field: name, Message: fmt.Sprintf("expires_at %q: want an RFC 3339 time such as 2026-12-31T23:59:59Z", *s)})
					continue
				}
			}
			steps = append(steps, func(l *redirect.Link) { l.ExpiresAt = t.UTC() })
		case "code", "partner", "program":
			errs = append(errs, fieldError{Field: name, Message: name + " cannot be changed: create a new link (its clicks keep the old one's)"})
		default:
			errs = append(errs, fieldError{Field: name, Message: fmt.Sprintf("unknown field %q (want url, status, expires_at, campaign)", name)})
		}
	}
	if len(errs) > 0 {
		fail(w, http.StatusBadRequest, errs[0].Message, errs...)
		return
	}
	a.write(w, r, cur.Code, "update", func(l *redirect.Link) error {
		for _, s := range steps {
			s(l)
		}
		return nil
	})
}

// disable: DELETE /api/v1/links/{code} disables the link (a link is never forgotten: its clicks
// still name it).
func (a *api) disable(w http.ResponseWriter, r *http.Request) {
	cur, ok := a.visible(w, r)
	if !ok {
		return
	}
	a.write(w, r, cur.Code, "disable", func(l *redirect.Link) error {
		l.Status = redirect.StatusDisabled
		return nil
	})
}

func (a *api) write(w http.ResponseWriter, r *http.Request, code, op string, change func(*redirect.Link) error) {
	partner := partnerOf(r)
	key := r.Header.Get("Idempotency-Key")
	if len(key) > 200 {
		fail(w, http.StatusBadRequest, "Idempotency-Key is over 200 bytes")
		return
	}
	v, changed, err := a.Catalog.Update(r.Context(), code, actorOf(partner), key, op, func(l *redirect.Link) error {
		if partner != "" && l.Status == redirect.StatusDisabled {
			// A link the admin disabled stays disabled for its partner.
			if cur, ok := a.Catalog.Get(code); ok && cur.Actor == "admin" && cur.Status == redirect.StatusDisabled {
				return errAdminDisabled
			}
		}
		if err := change(l); err != nil {
			return err
		}
		return redirect.CheckLink(l, a.KnownProgram)
	})
	if errors.Is(err, errAdminDisabled) {
		fail(w, http.StatusForbidden, "the admin disabled this link; only the admin can change it")
		return
	}
	var fe *redirect.FieldError
	switch {
	case errors.As(err, &fe):
		fail(w, http.StatusBadRequest, fe.Error(), fieldError{Field: fe.Field, Message: fe.Error()})
		return
	case errors.Is(err, ErrNotFound):
		fail(w, http.StatusNotFound, fmt.Sprintf("no link has the code %q", code))
		return
	case err != nil:
		a.Logger.Error("cannot change a link", "code", code, "err", err)
		fail(w, http.StatusServiceUnavailable, "cannot write the link to ClickHouse; nothing was changed, try again")
		return
	}
	if !changed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	reply(w, http.StatusOK, a.show(&v))
}

var errAdminDisabled = errors.New("disabled by the admin")

// history: GET /api/v1/links/{code}/history, every version, oldest first.
func (a *api) history(w http.ResponseWriter, r *http.Request) {
	cur, ok := a.visible(w, r)
	if !ok {
		return
	}
	vs, err := a.Catalog.History(r.Context(), cur.Code)
	if err != nil {
		a.Logger.Error("cannot read a link's history", "code", cur.Code, "err", err)
		fail(w, http.StatusServiceUnavailable, "cannot read the history from ClickHouse; try again")
		return
	}
	out := make([]linkJSON, len(vs))
	for i := range vs {
		out[i] = a.show(&vs[i])
	}
	reply(w, http.StatusOK, map[string]any{"code": cur.Code, "versions": out})
}

// list: GET /api/v1/links?partner=&program=&campaign=&status=&q=&cursor=&limit= (JSON, a page in
// code order with the next page's cursor), or format=csv (every link selected, as a file).
func (a *api) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Partner: q.Get("partner"), Program: q.Get("program"), Campaign: q.Get("campaign"), Status: q.Get("status"),
		Search: q.Get("q"), After: q.Get("cursor")}
	if p := partnerOf(r); p != "" {
		if f.Partner != "" && f.Partner != p {
			fail(w, http.StatusForbidden, fmt.Sprintf("this token lists the links of partner %q only", p))
			return
		}
		f.Partner = p
	}
	for name, v := range q {
		switch name {
		case "partner", "program", "campaign", "status", "q", "cursor", "limit", "format":
		default:
			fail(w, http.StatusBadRequest, fmt.Sprintf("unknown parameter %q (want partner, program, campaign, status, q, cursor, limit, format)", name))
			return
		}
		if len(v) > 1 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("parameter %q is given %d times", name, len(v)))
			return
		}
	}
	if f.Status != "" && f.Status != redirect.StatusActive && f.Status != redirect.StatusDisabled {
		fail(w, http.StatusBadRequest, fmt.Sprintf("status %q: want active or disabled", f.Status), fieldError{Field: "status", Message: "want active or disabled"})
		return
	}
	switch q.Get("format") {
	case "csv":
		vs, _ := a.Catalog.List(f)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="links.csv"`)
		cw := csvsafe.NewWriter(w)
		cw.Write([]string{"code", "url", "partner", "program", "campaign", "status", "expires_at", "short_url"})
		for i := range vs {
			j := a.show(&vs[i])
			exp := ""
			if j.ExpiresAt != nil {
				exp = j.ExpiresAt.Format(time.RFC3339)
			}
			cw.Write([]string{j.Code, j.URL, j.Partner, j.Program, j.Campaign, j.Status, exp, j.ShortURL})
		}
		cw.Flush()
		return
	case "", "json":
	default:
		fail(w, http.StatusBadRequest, fmt.Sprintf("format %q: want json or csv", q.Get("format")))
		return
	}
	f.Limit = 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			fail(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want 1 to 1000", s), fieldError{Field: "limit", Message: "want 1 to 1000"})
			return
		}
		f.Limit = n
	}
	vs, more := a.Catalog.List(f)
	out := make([]linkJSON, len(vs))
	for i := range vs {
		out[i] = a.show(&vs[i])
	}
	body := map[string]any{"links": out}
	if more {
		body["next_cursor"] = vs[len(vs)-1].Code
	}
	reply(w, http.StatusOK, body)
}

// derivedCode is the code generated for the i-th link of a request with an idempotency key, at
// the attempt-th try: the same request sent twice, to one server or two, gets the same codes.
func derivedCode(request string, i, attempt int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", request, i, attempt)))
	b := make([]byte, CodeLen)
	for k := range b {
		b[k] = codeAlphabet[int(sum[k])%len(codeAlphabet)]
	}
	return string(b)
}

// qr: GET /api/v1/links/{code}/qr.png and qr.svg, the QR code of the link's short URL
// (--public-url), medium error correction, a quiet zone of 4 modules; ?scale= pixels per module
// for the PNG (1 to 32, default 8).
func (a *api) qr(format string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, ok := a.visible(w, r)
		if !ok {
			return
		}
		if a.PublicURL == "" {
			fail(w, http.StatusConflict, "the server does not know its public address: start it with --public-url (https://go.example.com) for short links and QR codes")
			return
		}
		scale := 8
		if s := r.URL.Query().Get("scale"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 32 {
				fail(w, http.StatusBadRequest, fmt.Sprintf("scale %q: want 1 to 32 pixels per module", s), fieldError{Field: "scale", Message: "want 1 to 32"})
				return
			}
			scale = n
		}
		short := a.show(&v).ShortURL
		code, err := qr.EncodeText(short, qr.Medium)
		if err != nil {
			fail(w, http.StatusInternalServerError, "cannot make the QR code: "+err.Error())
			return
		}
		cfg := qr.NewQrCodeImgConfig(scale, 4)
		var body []byte
		if format == "png" {
			body, err = code.ToPNGBytes(cfg)
			w.Header().Set("Content-Type", "image/png")
		} else {
			body, err = code.ToSVGBytes(cfg)
			w.Header().Set("Content-Type", "image/svg+xml")
		}
		if err != nil {
			fail(w, http.StatusInternalServerError, "cannot draw the QR code: "+err.Error())
			return
		}
		w.Header().Set("Cache-Control", "private, max-age=300")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`inline; filename="%s.%s"`, v.Code, format))
		w.Write(body)
	}
}
