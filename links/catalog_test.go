package links_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/attribution"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/redirect"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func programs() []attribution.Program {
	return []attribution.Program{{Name: "affiliate", WindowDays: 15}, {Name: "ambassador", WindowDays: 30}}
}

func known(p string) bool { return p == "affiliate" || p == "ambassador" }

// edge is one server's catalog and served links over store.
type edge struct {
	cat   *links.Catalog
	links *redirect.Links
}

func newEdge(t testing.TB, store links.Store, snapshot string) *edge {
	t.Helper()
	ls, err := redirect.NewLinks(redirect.LinksOptions{Programs: programs(), CacheSize: 100, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return &edge{
		cat: links.NewCatalog(links.Options{Store: store, Links: ls, Snapshot: snapshot, Settle: 400 * time.Millisecond,
			SnapshotEvery: time.Nanosecond, Logger: quiet}),
		links: ls,
	}
}

// served returns what the edge serves for code, or nil.
func (e *edge) served(code string) *redirect.Link {
	l, _, ok := e.links.Get(code)
	if !ok {
		return nil
	}
	return &l
}

func link(code, url, partner string) redirect.Link {
	return redirect.Link{Code: code, URL: url, PartnerID: partner, Program: "affiliate", Status: redirect.StatusActive}
}

// A link created through one server is served by another after its next poll; a change and a
// disable follow the same way, and every version stays in the history with who wrote it.
func TestEdgesFollowTheStore(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	a, b := newEdge(t, db, ""), newEdge(t, db, "")
	for _, e := range []*edge{a, b} {
		if err := e.cat.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := a.cat.Create(ctx, []redirect.Link{link("spring", "https://shop.example.com/spring", "p1")}, "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created[0] || a.served("spring") == nil {
		t.Fatalf("the creating server does not serve its link: %+v", res)
	}
	if b.served("spring") != nil {
		t.Fatal("the other server serves the link before it polled")
	}
	if err := b.cat.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if l := b.served("spring"); l == nil || l.URL != "https://shop.example.com/spring" {
		t.Fatalf("after a poll the other server serves %+v", l)
	}
	if _, _, err := a.cat.Update(ctx, "spring", "partner:p1", "", "update", func(l *redirect.Link) error {
		l.URL = "https://shop.example.com/summer"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.cat.Update(ctx, "spring", "admin", "", "disable", func(l *redirect.Link) error {
		l.Status = redirect.StatusDisabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.cat.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if l := b.served("spring"); l == nil || l.URL != "https://shop.example.com/summer" || l.Status != redirect.StatusDisabled {
		t.Fatalf("after the change and the disable the other server serves %+v", l)
	}
	hist, err := b.cat.History(ctx, "spring")
	if err != nil {
		t.Fatal(err)
	}
	var ops, actors []string
	for _, v := range hist {
		ops, actors = append(ops, v.Op), append(actors, v.Actor)
	}
	if !slices.Equal(ops, []string{"create", "update", "disable"}) || !slices.Equal(actors, []string{"admin", "partner:p1", "admin"}) {
		t.Fatalf("history: ops %v, actors %v", ops, actors)
	}
	if a.cat.Len() != 1 || b.cat.Len() != 1 || b.links.Len() != 1 {
		t.Fatalf("one link, counted %d, %d, served %d", a.cat.Len(), b.cat.Len(), b.links.Len())
	}
}

// Two servers that create the same code at the same moment: exactly one gets it, the other is
// told the code is taken, and both then serve the winner's link. Tried many times, with the
// servers' claims racing each other.
func TestTwoServersCreatingOneCode(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	a, b := newEdge(t, db, ""), newEdge(t, db, "")
	for _, e := range []*edge{a, b} {
		if err := e.cat.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 8 {
		code := fmt.Sprintf("race-%d", round)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, e := range []*edge{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.cat.Create(ctx, []redirect.Link{link(code, fmt.Sprintf("https://shop.example.com/%d", i), "p1")}, "admin", "")
			}()
		}
		wg.Wait()
		var won []int
		for i, err := range errs {
			var ce *links.ConflictError
			switch {
			case err == nil:
				won = append(won, i)
			case errors.As(err, &ce) && ce.Conflicts[0].Code == code:
			default:
				t.Fatalf("round %d: server %d: %v", round, i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("round %d: %d servers got the code (errors %v)", round, len(won), errs)
		}
		want := fmt.Sprintf("https://shop.example.com/%d", won[0])
		for i, e := range []*edge{a, b} {
			if err := e.cat.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			if l := e.served(code); l == nil || l.URL != want {
				t.Fatalf("round %d: server %d serves %+v, want the winner's %s", round, i, l, want)
			}
		}
		hist, err := a.cat.History(ctx, code)
		if err != nil || len(hist) != 1 {
			t.Fatalf("round %d: the code has %d versions (%v), want the winner's one", round, len(hist), err)
		}
	}
}

// Generated codes: short, of the unambiguous alphabet, all distinct, and the same request with an
// idempotency key sent to two servers creates each link once.
func TestGeneratedCodes(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	a, b := newEdge(t, db, ""), newEdge(t, db, "")
	for _, e := range []*edge{a, b} {
		if err := e.cat.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	batch := make([]redirect.Link, 2000)
	for i := range batch {
		batch[i] = link("", fmt.Sprintf("https://shop.example.com/p/%d", i), "p2")
	}
	res, err := a.cat.Create(ctx, slices.Clone(batch), "admin", "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range res.Links {
		if len(v.Code) != links.CodeLen || strings.ContainsAny(v.Code, "0O1lIo") || seen[v.Code] {
			t.Fatalf("generated code %q: want %d distinct letters and digits that do not look alike", v.Code, links.CodeLen)
		}
		seen[v.Code] = true
	}
	// The same keyed request on both servers at once.
	few := batch[:20]
	var wg sync.WaitGroup
	results := make([]*links.CreateResult, 2)
	errs := make([]error, 2)
	for i, e := range []*edge{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = e.cat.Create(ctx, slices.Clone(few), "partner:p2", "order-42")
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("server %d: %v", i, errs[i])
		}
	}
	for k := range few {
		if results[0].Links[k].Code != results[1].Links[k].Code {
			t.Fatalf("link %d: the two servers answered %q and %q for one request", k, results[0].Links[k].Code, results[1].Links[k].Code)
		}
		hist, err := a.cat.History(ctx, results[0].Links[k].Code)
		if err != nil || len(hist) != 1 {
			t.Fatalf("link %d: %d versions (%v), want 1", k, len(hist), err)
		}
	}
	if err := b.cat.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.cat.Len(); n != 2020 {
		t.Fatalf("%d links known, want 2,020", n)
	}
}

// An edge saves what it serves; restarted while ClickHouse does not answer, it serves the
// snapshot, and once ClickHouse answers it catches up with what changed meanwhile.
func TestSnapshotServesWhileClickHouseIsDown(t *testing.T) {
	srv := chtest.NewServer(t)
	dsn := srv.DSN
	if _, err := clickhouse.Migrate(context.Background(), dsn, quiet); err != nil {
		t.Fatal(err)
	}
	db, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	snap := filepath.Join(t.TempDir(), "links.snapshot")
	a := newEdge(t, db, snap)
	if err := a.cat.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.cat.Create(ctx, []redirect.Link{link("kept", "https://shop.example.com/kept", "p1"), link("gone", "https://shop.example.com/gone", "p1")}, "admin", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(snap); err != nil {
		t.Fatalf("no snapshot after a change: %v", err)
	}
	srv.Stop()
	down := newEdge(t, db, snap)
	if err := down.cat.Start(ctx); err != nil {
		t.Fatalf("an edge with a snapshot must start while ClickHouse is down: %v", err)
	}
	if l := down.served("kept"); l == nil || l.URL != "https://shop.example.com/kept" {
		t.Fatalf("from the snapshot: %+v", l)
	}
	if err := newEdge(t, db, filepath.Join(t.TempDir(), "none")).cat.Start(ctx); err == nil {
		t.Fatal("an edge with neither ClickHouse nor a snapshot started with no links and no error")
	}
	srv.Start()
	// Another server disables a link while this one was away. (The pools' connections died with
	// the server: a first query may fail on one before the pool drops it.)
	retry := func(what string, f func() error) {
		t.Helper()
		var err error
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if err = f(); err == nil {
				return
			}
		}
		t.Fatalf("%s: %v", what, err)
	}
	retry("disable", func() error {
		_, _, err := a.cat.Update(ctx, "gone", "admin", "", "disable", func(l *redirect.Link) error {
			l.Status = redirect.StatusDisabled
			return nil
		})
		return err
	})
	retry("sync", func() error { return down.cat.Sync(ctx) })
	if l := down.served("gone"); l == nil || l.Status != redirect.StatusDisabled {
		t.Fatalf("after ClickHouse came back: %+v", l)
	}
	// A damaged snapshot is refused, not half-read.
	data, _ := os.ReadFile(snap)
	os.WriteFile(snap, data[:len(data)/2], 0o644)
	srv.Stop()
	if err := newEdge(t, db, snap).cat.Start(ctx); err == nil {
		t.Fatal("a cut snapshot was served")
	}
}
