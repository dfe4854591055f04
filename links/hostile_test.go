package links_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/redirect"
	"github.com/firstclaim/firstclaim/report"
)

// flaky fails the next reads of claims and the next claim writes it is told to.
type flaky struct {
	links.Store
	failReads, failClaims atomic.Int32
}

func (f *flaky) CodeClaims(ctx context.Context, codes []string) ([]links.Claim, error) {
	if f.failReads.Add(-1) >= 0 {
		return nil, errors.New("ClickHouse went away")
	}
	return f.Store.CodeClaims(ctx, codes)
}

func (f *flaky) ClaimCodes(ctx context.Context, claims []links.Claim) error {
	if len(claims) > 0 && claims[0].Released && f.failClaims.Add(-1) >= 0 {
		return errors.New("ClickHouse went away")
	}
	return f.Store.ClaimCodes(ctx, claims)
}

// A create that failed between its claim and its release leaves a claim behind. Sent again with
// the same key, the request must not answer success without a link (it is told to wait), and once
// the claim is older than ClaimTTL the request goes through, writing the link once.
func TestOrphanClaimsExpire(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	store := &flaky{Store: db}
	cat := links.NewCatalog(links.Options{Store: store, Settle: 100 * time.Millisecond, ClaimTTL: 2 * time.Second, Logger: quiet})
	if err := cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	body := []redirect.Link{link("", "https://shop.example.com/o", "p1")}
	store.failReads.Store(1)
	store.failClaims.Store(1)
	if _, err := cat.Create(ctx, append([]redirect.Link(nil), body...), "admin", "k-1"); err == nil {
		t.Fatal("a create whose claims could not be read succeeded")
	}
	res, err := cat.Create(ctx, append([]redirect.Link(nil), body...), "admin", "k-1")
	if err == nil {
		if _, ok := cat.Get(res.Links[0].Code); !ok {
			t.Fatalf("the retry answered success (%q) but no link exists", res.Links[0].Code)
		}
		t.Fatal("the retry went through while the orphan claim still counted")
	}
	time.Sleep(2 * time.Second)
	res, err = cat.Create(ctx, append([]redirect.Link(nil), body...), "admin", "k-1")
	if err != nil {
		t.Fatalf("after the claim's time: %v", err)
	}
	if v, ok := cat.Get(res.Links[0].Code); !ok || v.URL != "https://shop.example.com/o" {
		t.Fatalf("the link: %+v %v", v, ok)
	}
	if hist, _ := cat.History(ctx, res.Links[0].Code); len(hist) != 1 {
		t.Fatalf("%d versions, want 1", len(hist))
	}
}

// Idempotency keys, tried as a careless or hostile caller would: a used key with another body is
// refused (not answered with the first request's links); one partner cannot reach another's
// request by shaping its key; a PATCH repeated with its key changes nothing, even after a later
// change.
func TestIdempotencyKeysCannotBeAbused(t *testing.T) {
	_, db := chtest.Database(t)
	e := newEdge(t, db, "")
	if err := e.cat.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Partner ids may hold ':'; "a" and "a:b" are two partners.
	const aTok, abTok = "partner-a-token-01234567", "partner-ab-token-0123456"
	access := report.Access{Admin: adminToken, Partners: map[string]string{aTok: "a", abTok: "a:b"}}
	srv := httptest.NewServer(links.Handler(links.APIOptions{Catalog: e.cat, Scope: access.Scope, KnownProgram: known, Logger: quiet}))
	defer srv.Close()

	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", `{"code":"k1","url":"https://shop.example.com/1","partner":"p1","program":"affiliate"}`, "Idempotency-Key", "same").want(t, 201)
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", `{"code":"k2","url":"https://shop.example.com/2","partner":"p1","program":"affiliate"}`, "Idempotency-Key", "same").want(t, 422)
	if _, ok := e.cat.Get("k2"); ok {
		t.Fatal("a refused request created its link")
	}
	secret := call(t, srv, abTok, "POST", "/api/v1/links", "application/json", `{"url":"https://shop.example.com/private-offer","program":"affiliate"}`, "Idempotency-Key", "k").want(t, 201)
	a := call(t, srv, aTok, "POST", "/api/v1/links", "application/json", `{"url":"https://shop.example.com/private-offer","program":"affiliate"}`, "Idempotency-Key", "b:k")
	if a.body["code"] == secret.body["code"] || a.body["partner"] != "a" {
		t.Fatalf("partner a reached partner a:b's request: %d %v", a.status, a.body)
	}
	// PATCH with a key, a later change, the same PATCH again: the later change stays.
	call(t, srv, adminToken, "PATCH", "/api/v1/links/k1", "application/json", `{"url":"https://shop.example.com/x"}`, "Idempotency-Key", "p-1").want(t, 200)
	call(t, srv, adminToken, "PATCH", "/api/v1/links/k1", "application/json", `{"url":"https://shop.example.com/y"}`).want(t, 200)
	call(t, srv, adminToken, "PATCH", "/api/v1/links/k1", "application/json", `{"url":"https://shop.example.com/x"}`, "Idempotency-Key", "p-1").want(t, 200)
	if v, _ := e.cat.Get("k1"); v.URL != "https://shop.example.com/y" {
		t.Fatalf("a repeated PATCH undid a later change: %s", v.URL)
	}
}

// Bodies built to cost memory are refused early, and answers name at most a hundred errors;
// times outside what ClickHouse stores, and codes that are path segments, are refused; a link the
// admin disabled stays disabled for its partner.
func TestHostileBodies(t *testing.T) {
	srv, e := apiServer(t)
	many := "[" + strings.Repeat("{},", links.MaxBulk) + "{}]"
	began := time.Now()
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", many).want(t, 413)
	t.Logf("%d empty objects refused in %s", links.MaxBulk+1, time.Since(began))
	bad := "[" + strings.Repeat("1,", 50_000) + "1]"
	a := call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", bad).want(t, 400)
	if n := len(a.body["errors"].([]any)); n != 100 {
		t.Fatalf("%d errors in the answer, want the first 100", n)
	}
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/x-ndjson", strings.Repeat("{}\n", links.MaxBulk+1)).want(t, 413)
	for _, c := range []struct{ body, field string }{
		{`{"code":"late","url":"https://shop.example.com/","partner":"p1","program":"affiliate","expires_at":"2107-01-01T00:00:00Z"}`, "expires_at"},
		{`{"code":"early","url":"https://shop.example.com/","partner":"p1","program":"affiliate","expires_at":"1969-12-31T00:00:00Z"}`, "expires_at"},
		{`{"code":"..","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`, "code"},
		{`{"code":".","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}`, "code"},
		{`[{"code":"x","url":"https://shop.example.com/","partner":"p1","program":"affiliate"}] trailing`, ""},
	} {
		a := call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", c.body).want(t, 400)
		if got := a.errorsNamed(); len(got) != 1 || !strings.HasSuffix(got[0], ":"+c.field) {
			t.Fatalf("%s: errors %v, want the field %q", c.body, got, c.field)
		}
	}
	if e.cat.Len() != 0 {
		t.Fatalf("%d links created by refused bodies", e.cat.Len())
	}
	// Fractions of a second are dropped on the way in, so the same link sent again is the same.
	body := `{"code":"frac","url":"https://shop.example.com/","partner":"p1","program":"affiliate","expires_at":"2030-01-01T00:00:00.75Z"}`
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", body).want(t, 201)
	call(t, srv, adminToken, "POST", "/api/v1/links", "application/json", body).want(t, 200)

	call(t, srv, adminToken, "DELETE", "/api/v1/links/frac", "", "").want(t, 200)
	call(t, srv, p1Token, "PATCH", "/api/v1/links/frac", "application/json", `{"status":"active"}`).want(t, 403)
	if v, _ := e.cat.Get("frac"); v.Status != redirect.StatusDisabled {
		t.Fatal("a partner re-enabled a link the admin disabled")
	}
}

// counting records the codes a poll asks whole rows of.
type counting struct {
	links.Store
	asked [][]string
}

func (c *counting) NewestLinks(ctx context.Context, codes []string) ([]links.Version, error) {
	c.asked = append(c.asked, append([]string(nil), codes...))
	return c.Store.NewestLinks(ctx, codes)
}

// A poll reads whole rows only of the codes it does not have the newest version of: the rows of
// the overlap, and of a bulk import seen again by the next polls, cost a code and a number each.
func TestPollsReadOnlyWhatChanged(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	writer := newEdge(t, db, "")
	if err := writer.cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var bulk []redirect.Link
	for i := range 500 {
		bulk = append(bulk, link(fmt.Sprintf("bulk-%d", i), "https://shop.example.com/b", "p1"))
	}
	if _, err := writer.cat.Create(ctx, bulk, "admin", ""); err != nil {
		t.Fatal(err)
	}
	store := &counting{Store: db}
	reader := newEdge(t, store, "")
	if err := reader.cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reader.cat.Sync(ctx); err != nil { // the bulk is within the overlap: nothing to read
		t.Fatal(err)
	}
	if len(store.asked) != 0 {
		t.Fatalf("a poll with nothing new read whole rows of %d codes", len(store.asked[0]))
	}
	if _, _, err := writer.cat.Update(ctx, "bulk-7", "admin", "", "update", func(l *redirect.Link) error {
		l.URL = "https://shop.example.com/seven"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := reader.cat.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if len(store.asked) != 1 || strings.Join(store.asked[0], ",") != "bulk-7" {
		t.Fatalf("the poll after one change read whole rows of %v", store.asked)
	}
	if l := reader.served("bulk-7"); l == nil || l.URL != "https://shop.example.com/seven" {
		t.Fatalf("the change is not served: %+v", l)
	}
}
