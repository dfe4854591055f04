package links_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	qr "github.com/piglig/go-qr"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/report"
)

const (
	adminToken = "admin-token-0123456789"
	p1Token    = "partner-one-token-0123"
	p2Token    = "partner-two-token-0123"
)

// apiServer serves the links API over TCP, on a fresh database.
func apiServer(t *testing.T) (*httptest.Server, *edge) {
	t.Helper()
	_, db := chtest.Database(t)
	e := newEdge(t, db, "")
	if err := e.cat.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	access := report.Access{Admin: adminToken, Partners: map[string]string{p1Token: "p1", p2Token: "p2"}}
	srv := httptest.NewServer(links.Handler(links.APIOptions{Catalog: e.cat, Scope: access.Scope, KnownProgram: known,
		PublicURL: "https://go.example.com", Logger: quiet}))
	t.Cleanup(srv.Close)
	return srv, e
}

type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func call(t *testing.T, srv *httptest.Server, token, method, path, contentType, body string, headers ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, raw)
		}
	}
	return a
}

func (a answer) want(t *testing.T, status int) answer {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.raw)
	}
	return a
}

// errorsNamed returns the "line:field" of each error of a 4xx answer.
func (a answer) errorsNamed() []string {
	var out []string
	list, _ := a.body["errors"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		line, _ := m["line"].(float64)
		field, _ := m["field"].(string)
		out = append(out, fmt.Sprintf("%d:%s", int(line), field))
	}
	return out
}

func TestAPICreatesListsChangesAndDisables(t *testing.T) {
	srv, e := apiServer(t)
	// One link, code chosen.
	a := call(t, srv, adminToken, "POST", "/api/v1/links", "application/json",
		`{"code":"spring-sale","url":"https://shop.example.com/spring","partner":"p1","program":"affiliate","campaign":"spring"}`).want(t, 201)
	if a.body["code"] != "spring-sale" || a.body["short_url"] != "https://go.example.com/r/spring-sale" || a.body["changed_by"] != "admin" {
		t.Fatalf("created: %v", a.body)
	}
	if l := e.served("spring-sale"); l == nil || l.URL != "https://shop.example.com/spring" {
		t.Fatalf("the server does not serve the link it created: %+v", l)
	}
	// The same body again: not created twice.
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json",
		`{"code":"spring-sale","url":"https://shop.example.com/spring","partner":"p1","program":"affiliate","campaign":"spring"}`).want(t, 200)
	// The same code, another link: 409.
	a = call(t, srv, adminToken, "POST", "/api/v1/links", "application/json",
		`{"code":"spring-sale","url":"https://evil.example.net/","partner":"p2","program":"affiliate"}`).want(t, 409)
	if got := a.errorsNamed(); len(got) != 1 || got[0] != "1:code" {
		t.Fatalf("conflict errors: %v", got)
	}
	// Many, as CSV, codes generated.
	csv := "url,partner,program,campaign\n"
	for i := range 150 {
		csv += fmt.Sprintf("https://shop.example.com/item/%d,p2,affiliate,bulk\n", i)
	}
	a = call(t, srv, adminToken, "POST", "/api/v1/links", "text/csv", csv).want(t, 201)
	if a.body["created"].(float64) != 150 {
		t.Fatalf("bulk: %v", a.body["created"])
	}
	// NDJSON.
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/x-ndjson",
		`{"code":"nd-1","url":"https://shop.example.com/a","partner":"p1","program":"ambassador"}`+"\n"+
			`{"code":"nd-2","url":"https://shop.example.com/b","partner":"p1","program":"ambassador","expires_at":"2030-01-01T00:00:00Z"}`+"\n").want(t, 201)

	// One object pretty-printed is one link; objects one after another are many.
	a = call(t, srv, adminToken, "POST", "/api/v1/links", "application/json",
		"{\n  \"code\": \"pretty\",\n  \"url\": \"https://shop.example.com/p\",\n  \"partner\": \"p1\",\n  \"program\": \"affiliate\"\n}\n").want(t, 201)
	if a.body["code"] != "pretty" {
		t.Fatalf("a pretty-printed object: %v", a.body)
	}
	a = call(t, srv, adminToken, "POST", "/api/v1/links", "application/json",
		`{"code":"s-1","url":"https://shop.example.com/1","partner":"p1","program":"affiliate"}`+"\n"+
			`{"code":"s-2","url":"https://shop.example.com/2","partner":"p1","program":"affiliate"}`).want(t, 201)
	if a.body["created"].(float64) != 2 {
		t.Fatalf("objects one after another: %v", a.body)
	}

	// Listing: filters, search, paging by cursor.
	a = call(t, srv, adminToken, "GET", "/api/v1/links?campaign=bulk&limit=100", "", "").want(t, 200)
	page1 := a.body["links"].([]any)
	cursor, _ := a.body["next_cursor"].(string)
	if len(page1) != 100 || cursor == "" {
		t.Fatalf("page 1: %d links, cursor %q", len(page1), cursor)
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links?campaign=bulk&limit=100&cursor="+cursor, "", "").want(t, 200)
	if page2 := a.body["links"].([]any); len(page2) != 50 || a.body["next_cursor"] != nil {
		t.Fatalf("page 2: %d links, cursor %v", len(page2), a.body["next_cursor"])
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links?q=item/149", "", "").want(t, 200)
	if got := a.body["links"].([]any); len(got) != 1 {
		t.Fatalf("search found %d", len(got))
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links?partner=p1&format=csv", "", "").want(t, 200)
	if lines := strings.Split(strings.TrimSpace(a.raw), "\n"); len(lines) != 7 || !strings.HasPrefix(lines[0], "code,url,partner") {
		t.Fatalf("CSV download:\n%s", a.raw)
	}

	// Change, then disable; the history keeps each version.
	a = call(t, srv, p1Token, "PATCH", "/api/v1/links/spring-sale", "application/json", `{"url":"https://shop.example.com/summer","expires_at":"2031-01-01T00:00:00Z"}`).want(t, 200)
	if a.body["url"] != "https://shop.example.com/summer" || a.body["changed_by"] != "partner:p1" {
		t.Fatalf("patched: %v", a.body)
	}
	call(t, srv, adminToken, "DELETE", "/api/v1/links/spring-sale", "", "").want(t, 200)
	if l := e.served("spring-sale"); l == nil || l.Status != "disabled" || l.URL != "https://shop.example.com/summer" {
		t.Fatalf("after DELETE the server serves %+v", l)
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links/spring-sale/history", "", "").want(t, 200)
	var ops []string
	for _, v := range a.body["versions"].([]any) {
		ops = append(ops, v.(map[string]any)["op"].(string)+" by "+v.(map[string]any)["changed_by"].(string))
	}
	if strings.Join(ops, ", ") != "create by admin, update by partner:p1, disable by admin" {
		t.Fatalf("history: %v", ops)
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links/spring-sale", "", "").want(t, 200)
	if a.body["status"] != "disabled" {
		t.Fatalf("get: %v", a.body)
	}
	call(t, srv, adminToken, "GET", "/api/v1/links/nothing-here", "", "").want(t, 404)
}

// Every bad input is refused with 400 and named: the field, and for a bulk body the line; nothing
// of a refused bulk body is created.
func TestAPIRefusesBadInputByLineAndField(t *testing.T) {
	srv, e := apiServer(t)
	cases := []struct {
		name, ctype, body string
		want              []string // line:field
	}{
		{"bad url", "application/json", `{"code":"a","url":"javascript:alert(1)","partner":"p1","program":"affiliate"}`, []string{"1:url"}},
		{"relative url", "application/json", `{"code":"a","url":"/relative","partner":"p1","program":"affiliate"}`, []string{"1:url"}},
		{"bad code", "application/json", `{"code":"a b","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`, []string{"1:code"}},
		{"unknown program", "application/json", `{"code":"a","url":"https://shop.example.com/","partner":"p1","program":"nope"}`, []string{"1:program"}},
		{"no partner", "application/json", `{"code":"a","url":"https://shop.example.com/","program":"affiliate"}`, []string{"1:partner"}},
		{"bad status", "application/json", `{"code":"a","url":"https://shop.example.com/","partner":"p1","program":"affiliate","status":"paused"}`, []string{"1:status"}},
		{"bad expiry", "application/json", `{"code":"a","url":"https://shop.example.com/","partner":"p1","program":"affiliate","expires_at":"tomorrow"}`, []string{"1:expires_at"}},
		{"unknown field", "application/json", `{"code":"a","url":"https://shop.example.com/","partner":"p1","program":"affiliate","owner":"x"}`, []string{"1:owner"}},
		{"wrong type", "application/json", `{"code":7,"url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`, []string{"1:code"}},
		{"array, lines 3 and 4", "application/json", "[\n" +
			`{"code":"ok-1","url":"https://shop.example.com/","partner":"p1","program":"affiliate"},` + "\n" +
			`{"code":"bad 1","url":"https://shop.example.com/","partner":"p1","program":"affiliate"},` + "\n" +
			`{"code":"ok-2","url":"ftp://shop.example.com/","partner":"p1","program":"affiliate"}` + "\n]", []string{"3:code", "4:url"}},
		{"csv, duplicate code on line 3", "text/csv", "code,url,partner,program\nc1,https://shop.example.com/,p1,affiliate\nc1,https://shop.example.com/x,p1,affiliate\n", []string{"3:code"}},
		{"csv without program column", "text/csv", "code,url,partner\nc1,https://shop.example.com/,p1\n", []string{"1:"}},
		{"ndjson, line 2 not JSON", "application/x-ndjson", `{"code":"n1","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}` + "\n{oops\n", []string{"2:"}},
		{"not a link format", "text/plain", "hello", []string{"0:"}},
		{"empty", "application/json", "[]", nil},
	}
	for _, c := range cases {
		a := call(t, srv, adminToken, "POST", "/api/v1/links", c.ctype, c.body)
		if a.status != 400 {
			t.Fatalf("%s: status %d: %s", c.name, a.status, a.raw)
		}
		if got := a.errorsNamed(); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Fatalf("%s: errors %v, want %v (%s)", c.name, got, c.want, a.raw)
		}
	}
	if n := e.cat.Len(); n != 0 {
		t.Fatalf("%d links created by refused requests", n)
	}
	// Too many links in one request, and a body over the cap.
	var b strings.Builder
	b.WriteString("url,partner,program\n")
	for range links.MaxBulk + 1 {
		b.WriteString("https://s.example.com/,p1,affiliate\n")
	}
	call(t, srv, adminToken, "POST", "/api/v1/links", "text/csv", b.String()).want(t, 413)
	call(t, srv, adminToken, "POST", "/api/v1/links", "text/csv", strings.Repeat("x", 65<<20)).want(t, 413)
	// PATCH: fields that cannot change, unknown ones, bad values.
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", `{"code":"p","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`).want(t, 201)
	for body, field := range map[string]string{
		`{"partner":"p2"}`:               "partner",
		`{"code":"q"}`:                   "code",
		`{"colour":"red"}`:               "colour",
		`{"url":"javascript:alert(1)"}`:  "url",
		`{"url":5}`:                      "url",
		`{"status":"gone"}`:              "status",
		`{"expires_at":"next thursday"}`: "expires_at",
	} {
		a := call(t, srv, adminToken, "PATCH", "/api/v1/links/p", "application/json", body).want(t, 400)
		if got := a.errorsNamed(); len(got) != 1 || got[0] != "0:"+field {
			t.Fatalf("PATCH %s: errors %v, want %s", body, got, field)
		}
	}
	call(t, srv, adminToken, "GET", "/api/v1/links?limit=5000", "", "").want(t, 400)
	call(t, srv, adminToken, "GET", "/api/v1/links?sort=desc", "", "").want(t, 400)
	call(t, srv, adminToken, "GET", "/api/v1/links?status=paused", "", "").want(t, 400)
}

// Partner tokens create, list, read and change only their own partner's links; no token, or a
// wrong one, gets 401.
func TestAPIScopesPartnerTokens(t *testing.T) {
	srv, _ := apiServer(t)
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", `[`+
		`{"code":"one","url":"https://shop.example.com/1","partner":"p1","program":"affiliate"},`+
		`{"code":"two","url":"https://shop.example.com/2","partner":"p2","program":"affiliate"}]`).want(t, 201)
	// A partner's link without a partner named is the token's.
	a := call(t, srv, p1Token, "POST", "/api/v1/links", "application/json", `{"url":"https://shop.example.com/mine","program":"affiliate"}`).want(t, 201)
	if a.body["partner"] != "p1" || a.body["changed_by"] != "partner:p1" {
		t.Fatalf("partner-created link: %v", a.body)
	}
	call(t, srv, p1Token, "POST", "/api/v1/links", "application/json", `{"url":"https://shop.example.com/x","partner":"p2","program":"affiliate"}`).want(t, 403)
	call(t, srv, p1Token, "GET", "/api/v1/links/two", "", "").want(t, 403)
	call(t, srv, p1Token, "PATCH", "/api/v1/links/two", "application/json", `{"url":"https://evil.example.net/"}`).want(t, 403)
	call(t, srv, p1Token, "DELETE", "/api/v1/links/two", "", "").want(t, 403)
	call(t, srv, p1Token, "GET", "/api/v1/links/two/history", "", "").want(t, 403)
	call(t, srv, p1Token, "GET", "/api/v1/links?partner=p2", "", "").want(t, 403)
	a = call(t, srv, p1Token, "GET", "/api/v1/links", "", "").want(t, 200)
	for _, l := range a.body["links"].([]any) {
		if l.(map[string]any)["partner"] != "p1" {
			t.Fatalf("a partner's list shows %v", l)
		}
	}
	if n := len(a.body["links"].([]any)); n != 2 {
		t.Fatalf("partner p1 lists %d links, want 2", n)
	}
	call(t, srv, "", "GET", "/api/v1/links", "", "").want(t, 401)
	call(t, srv, "wrong-token-0123456789", "POST", "/api/v1/links", "application/json", `{}`).want(t, 401)
	a = call(t, srv, adminToken, "GET", "/api/v1/links/two", "", "").want(t, 200)
	if a.body["url"] != "https://shop.example.com/2" {
		t.Fatalf("a refused change changed the link: %v", a.body)
	}
}

// A request repeated with the same Idempotency-Key creates nothing new and answers what the
// first one created, generated codes included.
func TestAPIIdempotency(t *testing.T) {
	srv, e := apiServer(t)
	body := `[{"url":"https://shop.example.com/a","partner":"p1","program":"affiliate"},{"url":"https://shop.example.com/b","partner":"p1","program":"affiliate"}]`
	first := call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", body, "Idempotency-Key", "import-7").want(t, 201)
	again := call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", body, "Idempotency-Key", "import-7").want(t, 200)
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("a replayed request is not marked")
	}
	codes := func(a answer) string {
		var out []string
		for _, l := range a.body["links"].([]any) {
			out = append(out, l.(map[string]any)["code"].(string))
		}
		return strings.Join(out, ",")
	}
	if codes(first) != codes(again) {
		t.Fatalf("first %s, again %s", codes(first), codes(again))
	}
	if n := e.cat.Len(); n != 2 {
		t.Fatalf("%d links after a repeated request, want 2", n)
	}
	// The same key from another caller is another request.
	call(t, srv, p1Token, "POST", "/api/v1/links", "application/json", body, "Idempotency-Key", "import-7").want(t, 201)
	if n := e.cat.Len(); n != 4 {
		t.Fatalf("%d links, want 4", n)
	}
	// A PATCH that changes nothing writes no version.
	code := strings.Split(codes(first), ",")[0]
	call(t, srv, adminToken, "PATCH", "/api/v1/links/"+code, "application/json", `{"url":"https://shop.example.com/a"}`).want(t, 200)
	a := call(t, srv, adminToken, "GET", "/api/v1/links/"+code+"/history", "", "").want(t, 200)
	if n := len(a.body["versions"].([]any)); n != 1 {
		t.Fatalf("%d versions after a PATCH that changed nothing", n)
	}
}

// The QR code of a link reads back as its short URL, as PNG and as SVG.
func TestAPIQRCodes(t *testing.T) {
	srv, _ := apiServer(t)
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", `{"code":"qr-me","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`).want(t, 201)
	a := call(t, srv, adminToken, "GET", "/api/v1/links/qr-me/qr.png?scale=4", "", "").want(t, 200)
	if a.header.Get("Content-Type") != "image/png" {
		t.Fatalf("PNG content type %q", a.header.Get("Content-Type"))
	}
	img, err := png.Decode(strings.NewReader(a.raw))
	if err != nil {
		t.Fatal(err)
	}
	got, err := qr.Decode(img)
	if err != nil || got != "https://go.example.com/r/qr-me" {
		t.Fatalf("the QR code reads %q (%v)", got, err)
	}
	a = call(t, srv, adminToken, "GET", "/api/v1/links/qr-me/qr.svg", "", "").want(t, 200)
	if a.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(a.raw, "<svg") {
		t.Fatalf("SVG: %q %.80s", a.header.Get("Content-Type"), a.raw)
	}
	call(t, srv, adminToken, "GET", "/api/v1/links/qr-me/qr.png?scale=1000", "", "").want(t, 400)
	call(t, srv, p2Token, "GET", "/api/v1/links/qr-me/qr.png", "", "").want(t, 403)
	call(t, srv, adminToken, "GET", "/api/v1/links/nope/qr.svg", "", "").want(t, 404)
}
