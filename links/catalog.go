package links

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/firstclaim/firstclaim/redirect"
)

// Version is one version of a link: what it was, who wrote it, when and why.
type Version struct {
	redirect.Link
	Version   uint64    // the writing server's clock, Unix nanoseconds: the newest version is the link
	Actor     string    // "admin", "partner:ID", "import" or "file"
	Request   string    // the idempotency key of the request that wrote it, with its actor
	Op        string    // create, update, disable
	WrittenAt time.Time // ClickHouse's clock (the poll's cursor)
}

// Claim is a server's claim on a code it creates.
type Claim struct {
	Code     string
	At       uint64 // Unix nanoseconds on the claiming server
	Writer   string // the claiming server's id
	Request  string
	Released bool
}

// before orders claims: the earliest, then the smaller writer id, then the smaller request (two
// requests of one server in the same nanosecond).
func (c *Claim) before(o *Claim) bool {
	switch {
	case c.At != o.At:
		return c.At < o.At
	case c.Writer != o.Writer:
		return c.Writer < o.Writer
	}
	return c.Request < o.Request
}

// Store keeps the versions and claims (implemented by the ClickHouse adapter).
type Store interface {
	// LinkVersions calls fn with every version written at or after since (the store's clock), in
	// code and version order.
	LinkVersions(ctx context.Context, since time.Time, fn func(Version) error) error
	// ChangedLinks calls fn with each code that has versions written at or after since, and the
	// newest version number among those.
	ChangedLinks(ctx context.Context, since time.Time, fn func(code string, version uint64) error) error
	// NewestLinks returns the newest version of each of codes.
	NewestLinks(ctx context.Context, codes []string) ([]Version, error)
	AppendLinkVersions(ctx context.Context, vs []Version) error
	ClaimCodes(ctx context.Context, claims []Claim) error
	// CodeClaims returns the standing (not released) claims on codes.
	CodeClaims(ctx context.Context, codes []string) ([]Claim, error)
	LinkHistory(ctx context.Context, code string) ([]Version, error)
	// RequestCodes returns the codes that versions with this request wrote.
	RequestCodes(ctx context.Context, request string) ([]string, error)
	// Now is the store's clock.
	Now(ctx context.Context) (time.Time, error)
}

// Options configure a Catalog.
type Options struct {
	Store Store
	Links *redirect.Links // the edge's served links, kept in step; may be nil
	// Snapshot, when set, is the file the catalog is saved to after each change it sees and loaded
	// from when the store does not answer at start.
	Snapshot string
	// Settle is how long a creating server waits after its claims before reading them back: longer
	// than an INSERT into the store takes plus the clock skew between servers. Default 1 s.
	Settle time.Duration
	// Overlap is how far before its last poll's time an edge asks again, for the rows whose INSERT
	// was under way then. Default 10 s.
	Overlap time.Duration
	// ClaimTTL is how long a claim whose request wrote nothing keeps its code (default a minute).
	ClaimTTL time.Duration
	// SnapshotEvery is the least time between two snapshots (default 10 s): a change a second
	// would otherwise rewrite the whole file every second.
	SnapshotEvery time.Duration
	Metrics       *metrics.Set
	Logger        *slog.Logger
}

// Catalog is one server's copy of the links: every code's newest version, kept in step with the
// store by Sync, and written through by the API. The versions are held by the edge's link store
// (redirect.Links, packed: a link costs its text and a few dozen bytes), not a second time here.
// Safe for concurrent use.
type Catalog struct {
	opts   Options
	writer string // this server's id in claims
	links  *redirect.Links

	mu     sync.RWMutex
	cursor time.Time // the store's clock at the last poll's start
	synced bool      // the store answered once

	syncing chan struct{} // one Sync at a time (a lock that a caller's context can give up on)
	codeMu  sync.Mutex
	writing map[string]chan struct{} // codes being changed on this server (Update)
	sorted  []string                 // the codes in order, for List; nil when stale
	saveMu  sync.Mutex
	savedAt time.Time // the last snapshot
	dirty   bool      // changes since it

	polls, pollErrors, changes *metrics.Counter
}

// NewCatalog returns an empty catalog.
func NewCatalog(opts Options) *Catalog {
	if opts.Settle <= 0 {
		opts.Settle = time.Second
	}
	if opts.Overlap <= 0 {
		opts.Overlap = 10 * time.Second
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = time.Minute
	}
	if opts.SnapshotEvery <= 0 {
		opts.SnapshotEvery = 10 * time.Second
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	links := opts.Links
	if links == nil { // a catalog that serves no redirects (links import and export)
		links, _ = redirect.NewLinks(redirect.LinksOptions{CacheSize: 1, Metrics: metrics.NewSet(), Logger: opts.Logger})
	}
	c := &Catalog{opts: opts, writer: randomID(12), links: links,
		syncing: make(chan struct{}, 1), writing: map[string]chan struct{}{},
		polls:      opts.Metrics.NewCounter("firstclaim_links_polls_total"),
		pollErrors: opts.Metrics.NewCounter("firstclaim_links_poll_errors_total"),
		changes:    opts.Metrics.NewCounter("firstclaim_links_changes_total"),
	}
	opts.Metrics.NewGauge("firstclaim_links_catalog_lag_seconds", func() float64 {
		c.mu.RLock()
		defer c.mu.RUnlock()
		if c.cursor.IsZero() {
			return -1
		}
		return time.Since(c.cursor).Seconds()
	})
	return c
}

// Start loads the links: from the store, or, when it does not answer, from the snapshot. It fails
// only when neither has them (a first start with the store down).
func (c *Catalog) Start(ctx context.Context) error {
	err := c.Sync(ctx)
	if err == nil {
		return nil
	}
	if c.opts.Snapshot == "" {
		return fmt.Errorf("cannot load the links from ClickHouse: %w", err)
	}
	n, serr := c.loadSnapshot()
	if serr != nil {
		return fmt.Errorf("cannot load the links from ClickHouse (%v) nor from the snapshot: %w", err, serr)
	}
	c.opts.Logger.Warn("ClickHouse does not answer: serving the links of the snapshot until it does", "snapshot", c.opts.Snapshot, "links", n, "err", err)
	return nil
}

// Run polls the store every interval until ctx ends.
func (c *Catalog) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			if c.isDirty() {
				if err := c.saveSnapshot(true); err != nil {
					c.opts.Logger.Error("cannot save the links' snapshot", "snapshot", c.opts.Snapshot, "err", err)
				}
			}
			return
		case <-t.C:
		}
		err := c.Sync(ctx)
		switch {
		case err != nil && !failing && ctx.Err() == nil:
			c.opts.Logger.Error("cannot read the links' changes from ClickHouse; serving the links known", "err", err)
			failing = true
		case err == nil && failing:
			c.opts.Logger.Info("reading the links' changes from ClickHouse again")
			failing = false
		}
	}
}

// Sync reads the versions written since the last poll (the first time: all of them) and serves the
// links that changed.
func (c *Catalog) Sync(ctx context.Context) error {
	select {
	case c.syncing <- struct{}{}:
		defer func() { <-c.syncing }()
	case <-ctx.Done():
		return ctx.Err()
	}
	c.polls.Inc()
	now, err := c.opts.Store.Now(ctx)
	if err != nil {
		c.pollErrors.Inc()
		return err
	}
	c.mu.RLock()
	since, first := c.cursor.Add(-c.opts.Overlap), !c.synced
	c.mu.RUnlock()
	if first && c.cursor.IsZero() {
		since = time.Unix(0, 0)
	}
	if first && since.Unix() <= 0 {
		// Everything: straight into a new set, the newest version of each code (the rows come
		// in code and version order), with nothing held on the way.
		set := c.links.NewSet(0)
		var last Version
		have := false
		add := func() {
			if have {
				m := last.meta()
				set.Add(&last.Link, &m)
			}
		}
		err = c.opts.Store.LinkVersions(ctx, since, func(v Version) error {
			if have && v.Code != last.Code {
				add()
			}
			last, have = v, true
			return nil
		})
		if err != nil {
			c.pollErrors.Inc()
			return err
		}
		add()
		c.links.Serve(set)
		c.mu.Lock()
		c.cursor, c.synced, c.sorted = now, true, nil
		c.mu.Unlock()
		c.changes.Add(c.links.Len())
		if err := c.saveSnapshot(true); err != nil {
			c.opts.Logger.Error("cannot save the links' snapshot", "snapshot", c.opts.Snapshot, "err", err)
		}
		if c.links.Len() >= 100_000 {
			// The rows read and the snapshot written are garbage now; with a collector that lets
			// the heap grow several times the live data (--gc-percent), give it back at once.
			debug.FreeOSMemory()
		}
		return nil
	}
	// A poll reads the codes written since (a pair each), and whole rows only of the ones whose
	// version this server does not have: the overlap (and a bulk import's rows, seen again by
	// every poll of the overlap) costs a code and a number a row, not a link.
	var want []string
	seen := 0
	err = c.opts.Store.ChangedLinks(ctx, since, func(code string, version uint64) error {
		seen++
		if _, m, ok := c.links.Get(code); !ok || m.Version < version {
			want = append(want, code)
		}
		return nil
	})
	if err != nil {
		c.pollErrors.Inc()
		return err
	}
	if seen >= 50_000 {
		// A bulk change, read again by each poll of the overlap: its codes are garbage now, and
		// the collector (--gc-percent) would let them pile up several times the link set.
		defer debug.FreeOSMemory()
	}
	newest := map[string]*Version{}
	if len(want) > 0 {
		vs, err := c.opts.Store.NewestLinks(ctx, want)
		if err != nil {
			c.pollErrors.Inc()
			return err
		}
		for i := range vs {
			newest[vs[i].Code] = &vs[i]
		}
	}
	var changed []redirect.Link
	var metas []redirect.LinkMeta
	fresh := false
	for code, v := range newest {
		_, m, ok := c.links.Get(code)
		if ok && m.Version >= v.Version {
			continue
		}
		fresh = fresh || !ok
		changed, metas = append(changed, v.Link), append(metas, v.meta())
	}
	c.links.Apply(changed, metas)
	c.mu.Lock()
	c.cursor, c.synced = now, true
	if fresh {
		c.sorted = nil
	}
	c.mu.Unlock()
	c.changes.Add(len(changed))
	if len(changed) > 0 || first || c.isDirty() {
		if err := c.saveSnapshot(first); err != nil {
			c.opts.Logger.Error("cannot save the links' snapshot", "snapshot", c.opts.Snapshot, "err", err)
		}
	}
	return nil
}

func (v *Version) meta() redirect.LinkMeta {
	return redirect.LinkMeta{Version: v.Version, Actor: v.Actor, Op: v.Op, WrittenAt: v.WrittenAt}
}

func (c *Catalog) isDirty() bool {
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	return c.dirty
}

// Get returns the newest version of code.
func (c *Catalog) Get(code string) (Version, bool) {
	l, m, ok := c.links.Get(code)
	if !ok {
		return Version{}, false
	}
	return Version{Link: l, Version: m.Version, Actor: m.Actor, Op: m.Op, WrittenAt: m.WrittenAt}, true
}

// Len returns the number of links known.
func (c *Catalog) Len() int { return c.links.Len() }

// Filter selects links for List.
type Filter struct {
	Partner, Program, Campaign, Status string
	Search                             string // in the code or the destination, ignoring case
	After                              string // the cursor: codes after this one
	Limit                              int    // 0: all
}

// List returns the links that f selects, in code order, and whether more follow. It walks the
// codes in order from the cursor (kept sorted between changes), so a page costs what it reads,
// not a sort of every link.
func (c *Catalog) List(f Filter) ([]Version, bool) {
	search := strings.ToLower(f.Search)
	c.mu.Lock()
	if c.sorted == nil {
		c.sorted = make([]string, 0, c.links.Len())
		c.links.Each(func(l redirect.Link, _ redirect.LinkMeta) bool {
			c.sorted = append(c.sorted, l.Code) // points into the link set: no copy
			return true
		})
		slices.Sort(c.sorted)
	}
	sorted := c.sorted
	c.mu.Unlock()
	start, _ := slices.BinarySearch(sorted, f.After)
	var out []Version
	for _, code := range sorted[start:] {
		v, ok := c.Get(code)
		switch {
		case !ok,
			f.After != "" && v.Code <= f.After,
			f.Partner != "" && v.PartnerID != f.Partner,
			f.Program != "" && v.Program != f.Program,
			f.Campaign != "" && v.Campaign != f.Campaign,
			f.Status != "" && v.Status != f.Status,
			search != "" && !strings.Contains(strings.ToLower(v.Code), search) && !strings.Contains(strings.ToLower(v.URL), search):
			continue
		}
		if f.Limit > 0 && len(out) == f.Limit {
			return out, true
		}
		out = append(out, v)
	}
	return out, false
}

// History returns every version of code, oldest first.
func (c *Catalog) History(ctx context.Context, code string) ([]Version, error) {
	return c.opts.Store.LinkHistory(ctx, code)
}

// CreateResult says what Create did with each link, in the order given.
type CreateResult struct {
	Links   []Version
	Created []bool // false: the same link was there already (a repeated request)
}

// Conflict is a code that could not be created: taken by a different link.
type Conflict struct {
	Index int // into the links given
	Code  string
}

// ConflictError lists the codes that were taken; nothing was created.
type ConflictError struct{ Conflicts []Conflict }

func (e *ConflictError) Error() string {
	codes := make([]string, len(e.Conflicts))
	for i, c := range e.Conflicts {
		codes[i] = c.Code
	}
	return fmt.Sprintf("%d codes are taken by other links: %s", len(codes), strings.Join(codes, ", "))
}

// RequestKey is how a request is named in the versions it writes: what it does, who sent it and
// its idempotency key, apart by a separator that no actor or partner id may hold (a control
// character), so one caller's key can never name another caller's request.
func RequestKey(kind, actor, key string) string { return kind + "\x1f" + actor + "\x1f" + key }

// Create writes new links, all or none. A link without a code gets a generated one (8 letters
// and digits, 46 bits from the system's random source, drawn again on a collision; derived from
// the idempotency key when there is one, so the same request sent twice asks for the same codes).
// A link whose code has the same link already is not written again; a code with a different
// link is a *ConflictError. links must have been checked (redirect.CheckLink).
//
// Uniqueness across servers: every new code is claimed in the store (claimed_ns from this
// server's clock, this server's id); after Settle the claims on the codes are read back, and a code
// is this server's only if its claim is the earliest standing one. A claim made before this one
// has reached the store by then, as long as an INSERT takes less than Settle (plus the clocks'
// skew); two servers that claim a code at once therefore read the same claims and agree on which
// of them won. The loser releases its claims and answers 409 for a chosen code, or draws a new
// code for a generated one. Codes the request won but did not write (another code of it lost)
// are released too. A claim older than ClaimTTL no longer counts: a server that died, or lost
// ClickHouse, between its claim and its release leaves a claim that stops counting then (a code
// whose link was written is in every catalog long before; Create reads the store first).
func (c *Catalog) Create(ctx context.Context, links []redirect.Link, actor, key string) (*CreateResult, error) {
	if err := c.Sync(ctx); err != nil { // know every code written until now
		return nil, fmt.Errorf("cannot read the links: %w", err)
	}
	res := &CreateResult{Links: make([]Version, len(links)), Created: make([]bool, len(links))}
	request := RequestKey("create", actor, key)
	if key == "" {
		request = RequestKey("create", actor, randomID(16))
	}
	explicit := map[string]bool{}
	for i := range links {
		if links[i].Code != "" {
			explicit[links[i].Code] = true
		}
	}
	generated := make([]bool, len(links))
	tries := make([]int, len(links))
	taken := map[string]bool{} // generated in this request
	next := func(i int) string {
		for {
			code := c.newCode()
			if key != "" {
				code = derivedCode(request, i, tries[i])
				tries[i]++
			}
			if explicit[code] || taken[code] {
				continue
			}
			if v, ok := c.Get(code); !ok || key != "" && sameLink(&v.Link, withCode(links[i], code)) {
				taken[code] = true
				return code
			}
		}
	}
	var conflicts []Conflict
	todo := []int{}
	for i := range links {
		l := &links[i]
		if l.Code == "" {
			generated[i] = true
			l.Code = next(i)
			if v, ok := c.Get(l.Code); ok { // the same request, written before
				res.Links[i] = v
				continue
			}
		} else if v, ok := c.Get(l.Code); ok {
			if sameLink(&v.Link, l) {
				res.Links[i] = v
				continue
			}
			conflicts = append(conflicts, Conflict{i, l.Code})
			continue
		}
		todo = append(todo, i)
	}
	if len(conflicts) > 0 {
		return nil, &ConflictError{conflicts}
	}
	twin := make([]bool, len(links)) // won by the same request on another server, which writes it
	var won []Claim
	release := func() {
		if len(won) == 0 {
			return
		}
		for i := range won {
			won[i].Released = true
		}
		if err := c.opts.Store.ClaimCodes(context.WithoutCancel(ctx), won); err != nil {
			c.opts.Logger.Error("cannot release the claims of a failed request; its codes stay reserved for a minute", "err", err)
		}
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		if attempt == 4 {
			release()
			return nil, errors.New("could not find free codes for the generated links; try again")
		}
		at := uint64(time.Now().UnixNano())
		claims := make([]Claim, len(todo))
		codes := make([]string, len(todo))
		for k, i := range todo {
			claims[k] = Claim{Code: links[i].Code, At: at, Writer: c.writer, Request: request}
			codes[k] = links[i].Code
		}
		if err := c.opts.Store.ClaimCodes(ctx, claims); err != nil {
			// Some may have landed: release them all.
			won = append(won, claims...)
			release()
			return nil, fmt.Errorf("cannot claim the codes: %w", err)
		}
		wait := time.Until(time.Unix(0, int64(at)).Add(c.opts.Settle))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			won = append(won, claims...)
			release()
			return nil, ctx.Err()
		}
		standing, err := c.opts.Store.CodeClaims(ctx, codes)
		if err != nil {
			won = append(won, claims...)
			release()
			return nil, fmt.Errorf("cannot read the claims back: %w", err)
		}
		oldest := at - uint64(c.opts.ClaimTTL)
		first := map[string]*Claim{}
		for k := range standing {
			s := &standing[k]
			if s.At < oldest {
				continue
			}
			if f := first[s.Code]; f == nil || s.before(f) {
				first[s.Code] = s
			}
		}
		var again []int
		var lost []Claim
		for k, i := range todo {
			f := first[links[i].Code]
			if f != nil && f.Writer == c.writer && f.At == at && f.Request == request {
				won = append(won, claims[k])
				continue
			}
			lost = append(lost, claims[k])
			if f != nil && key != "" && f.Request == request {
				twin[i] = true
				continue
			}
			if generated[i] {
				delete(taken, links[i].Code)
				links[i].Code = next(i)
				again = append(again, i)
				continue
			}
			conflicts = append(conflicts, Conflict{i, links[i].Code})
		}
		if len(lost) > 0 {
			for k := range lost {
				lost[k].Released = true
			}
			_ = c.opts.Store.ClaimCodes(context.WithoutCancel(ctx), lost)
		}
		if len(conflicts) > 0 {
			release()
			return nil, &ConflictError{conflicts}
		}
		todo = again
	}
	var vs []Version
	now := uint64(time.Now().UnixNano())
	for i := range links {
		if res.Links[i].Code != "" || twin[i] {
			continue
		}
		// One version number per link, in the request's order (a replay answers in it).
		v := Version{Link: links[i], Version: now + uint64(i), Actor: actor, Request: request, Op: "create"}
		res.Links[i], res.Created[i] = v, true
		vs = append(vs, v)
	}
	if err := c.opts.Store.AppendLinkVersions(ctx, vs); err != nil {
		release()
		return nil, fmt.Errorf("cannot write the links: %w", err)
	}
	c.syncAfterWrite(ctx)
	// The links a twin (the same request on another server) won are answered once it wrote them;
	// if it does not (it failed), the request fails and may be sent again.
	for i := range links {
		if !twin[i] {
			continue
		}
		deadline := time.Now().Add(3 * c.opts.Settle)
		for {
			if v, ok := c.Get(links[i].Code); ok && sameLink(&v.Link, &links[i]) {
				res.Links[i] = v
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("the same request (idempotency key) is under way on another server and did not finish; send it again in a minute")
			}
			select {
			case <-time.After(c.opts.Settle / 4):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			_ = c.Sync(ctx)
		}
	}
	return res, nil
}

// Update writes a new version of one link (changed by change, which may refuse it), and returns
// it. A change that changes nothing writes nothing. Changes of one code on one server are made one
// at a time, each on the newest version known; between servers, the later version wins.
// A non-empty key makes the change idempotent: sent again, it changes nothing.
func (c *Catalog) Update(ctx context.Context, code, actor, key, op string, change func(*redirect.Link) error) (Version, bool, error) {
	unlock, err := c.lockCode(ctx, code)
	if err != nil {
		return Version{}, false, err
	}
	defer unlock()
	if err := c.Sync(ctx); err != nil { // change the newest version there is
		return Version{}, false, fmt.Errorf("cannot read the link: %w", err)
	}
	cur, ok := c.Get(code)
	if !ok {
		return Version{}, false, ErrNotFound
	}
	request := RequestKey(op, actor, randomID(16))
	if key != "" {
		request = RequestKey(op+" "+code, actor, key)
		done, err := c.opts.Store.RequestCodes(ctx, request)
		if err != nil {
			return Version{}, false, fmt.Errorf("cannot read the earlier requests: %w", err)
		}
		if len(done) > 0 {
			return cur, false, nil
		}
	}
	next := cur.Link
	if err := change(&next); err != nil {
		return Version{}, false, err
	}
	if sameLink(&cur.Link, &next) {
		return cur, false, nil
	}
	ver := uint64(time.Now().UnixNano())
	if ver <= cur.Version { // a clock behind the last writer's: still after it
		ver = cur.Version + 1
	}
	v := Version{Link: next, Version: ver, Actor: actor, Request: request, Op: op}
	if err := c.opts.Store.AppendLinkVersions(ctx, []Version{v}); err != nil {
		return Version{}, false, fmt.Errorf("cannot write the link: %w", err)
	}
	c.syncAfterWrite(ctx)
	return v, true, nil
}

// lockCode makes the changes of one code on this server one at a time.
func (c *Catalog) lockCode(ctx context.Context, code string) (func(), error) {
	for {
		c.codeMu.Lock()
		busy, ok := c.writing[code]
		if !ok {
			done := make(chan struct{})
			c.writing[code] = done
			c.codeMu.Unlock()
			return func() {
				c.codeMu.Lock()
				delete(c.writing, code)
				c.codeMu.Unlock()
				close(done)
			}, nil
		}
		c.codeMu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// ErrNotFound is a code that is no link.
var ErrNotFound = errors.New("no such link")

// Replayed returns the links that an earlier create by actor with this idempotency key wrote, in
// the order written, or nil when there was none.
func (c *Catalog) Replayed(ctx context.Context, actor, key string) ([]Version, error) {
	request := RequestKey("create", actor, key)
	codes, err := c.opts.Store.RequestCodes(ctx, request)
	if err != nil || len(codes) == 0 {
		return nil, err
	}
	_ = c.Sync(ctx)
	out := make([]Version, 0, len(codes))
	for _, code := range codes {
		if v, ok := c.Get(code); ok {
			out = append(out, v)
		}
	}
	return out, nil
}

// syncAfterWrite makes this server serve what it just wrote, without waiting for the next poll.
func (c *Catalog) syncAfterWrite(ctx context.Context) {
	if err := c.Sync(ctx); err != nil {
		c.opts.Logger.Warn("links written; reading them back failed, the next poll will", "err", err)
	}
}

func withCode(l redirect.Link, code string) *redirect.Link {
	l.Code = code
	return &l
}

func sameLink(a, b *redirect.Link) bool {
	return a.Code == b.Code && a.URL == b.URL && a.PartnerID == b.PartnerID && a.Program == b.Program &&
		a.Campaign == b.Campaign && a.Status == b.Status && a.ExpiresAt.Equal(b.ExpiresAt)
}

// codeAlphabet is the generated codes' alphabet: letters and digits, without the ones that look
// alike (0 O o 1 l I), so a code read aloud or from print is typed right.
const codeAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"

// CodeLen is the length of a generated code: 56^8, about 2^46 codes.
const CodeLen = 8

func (c *Catalog) newCode() string {
	for {
		code := randomString(CodeLen, codeAlphabet)
		if _, ok := c.Get(code); !ok {
			return code
		}
	}
}

func randomString(n int, alphabet string) string {
	b := make([]byte, n)
	buf := make([]byte, 1)
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic(err)
		}
		// Rejection sampling keeps every letter equally likely.
		if int(buf[0]) >= 256-256%len(alphabet) {
			continue
		}
		b[i] = alphabet[int(buf[0])%len(alphabet)]
		i++
	}
	return string(b)
}

func randomID(n int) string { return randomString(n, "0123456789abcdefghijklmnopqrstuvwxyz") }
