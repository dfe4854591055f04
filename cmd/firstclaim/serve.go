package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/cookie"
	"github.com/firstclaim/firstclaim/enrich"
	"github.com/firstclaim/firstclaim/internal/apidoc"
	"github.com/firstclaim/firstclaim/internal/listener"
	linkspkg "github.com/firstclaim/firstclaim/links"
	"github.com/firstclaim/firstclaim/ndjson"
	"github.com/firstclaim/firstclaim/redirect"
	"github.com/firstclaim/firstclaim/report"
	"github.com/firstclaim/firstclaim/sink"
)

type serveCmd struct {
	listen, adminListen string
	links, programs     string
	cookieKeys          string
	cookieDomain        string
	cookieSameSite      string
	cookieSecure        bool
	clicks              string
	dataDir             string
	adminToken          string
	cacheSize           int
	reloadInterval      time.Duration
	trustedProxies      string
	botNetworks         string
	humanAgents         string
	honorGPC            bool
	claimLimit          int
	claimLimitWindow    time.Duration
	batchSize           int
	flushInterval       time.Duration
	fsyncInterval       time.Duration
	queueBytes          int
	spoolMaxBytes       int64
	segmentBytes        int64
	maxBackoff          time.Duration
	clickhouse          clickhouseFlag
	pixelSecret         string
	partnerTokens       string
	geoip               string
	ipMode              string
	duplicateWindow     time.Duration
	associationToken    string
	shutdownTimeout     time.Duration
	requestTimeout      time.Duration
	idleTimeout         time.Duration
	gcPercent           int
	memoryLimit         string
	maxHeaderBytes      int
	reportTimeout       time.Duration
	rollupEvery         time.Duration
	linksPoll           time.Duration
	publicURL           string

	// ready, when set, receives the listeners' addresses once they accept connections (tests).
	ready func(public, admin net.Addr)
}

func (c *serveCmd) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.listen, "listen", ":8080", "public listener: links, pixels, association API")
	fs.StringVar(&c.adminListen, "admin-listen", "127.0.0.1:9090", "admin listener: health, metrics, reports")
	fs.StringVar(&c.links, "links", "", "links `file`: CSV (code,url,partner,program,campaign[,status,expires_at]) or a JSON array; reloaded when it changes. Without it, with --clickhouse, the links are ClickHouse's, managed through /api/v1/links")
	fs.DurationVar(&c.linksPoll, "links-poll", time.Second, "with links in ClickHouse: how often to read the links' changes")
	fs.StringVar(&c.publicURL, "public-url", "", "the public listener's address as visitors reach it (https://go.example.com): the links API shows each link's short URL")
	fs.StringVar(&c.programs, "programs", "", "programs `file` (JSON); the presets of docs/rules.md §6 are built in")
	fs.StringVar(&c.cookieKeys, "cookie-keys", "", "claim cookie keys, newest first: `id:secret,id:secret` (secrets of 32+ bytes; try: openssl rand -hex 32)")
	fs.StringVar(&c.cookieDomain, "cookie-domain", "", "claim cookie Domain (empty: host-only)")
	fs.StringVar(&c.cookieSameSite, "cookie-samesite", "lax", "claim cookie SameSite: lax, strict or none (none forces Secure)")
	fs.BoolVar(&c.cookieSecure, "cookie-secure", false, "mark claim cookies Secure (use behind HTTPS)")
	fs.StringVar(&c.clicks, "clicks", "clicks.ndjson", "NDJSON `file` for events when no ClickHouse is configured (- for stdout)")
	fs.StringVar(&c.dataDir, "data-dir", "firstclaim-data", "folder for the disk spool")
	fs.StringVar(&c.adminToken, "admin-token", "", "bearer token for the admin endpoints other than /healthz and /readyz")
	fs.IntVar(&c.cacheSize, "cache-size", 100_000, "prepared links kept in the LRU")
	fs.DurationVar(&c.reloadInterval, "reload-interval", time.Second, "how often to check the links file for changes")
	fs.StringVar(&c.trustedProxies, "trusted-proxies", "", "`CIDR,...` whose X-Forwarded-For and Forwarded headers are believed")
	fs.StringVar(&c.botNetworks, "bot-networks", "", "`CIDR,...` whose requests are bots")
	fs.StringVar(&c.humanAgents, "human-agents", "curl/", "user-agent prefixes never counted as bots, `prefix,...`")
	fs.BoolVar(&c.honorGPC, "honor-gpc", false, "set no claim cookie for browsers that send Sec-GPC: 1")
	fs.IntVar(&c.claimLimit, "claim-limit", 60, "claims per client address per --claim-limit-window; 0 disables")
	fs.DurationVar(&c.claimLimitWindow, "claim-limit-window", time.Minute, "window of --claim-limit")
	fs.IntVar(&c.batchSize, "batch-size", 50_000, "records per batch (one INSERT)")
	fs.DurationVar(&c.flushInterval, "flush-interval", time.Second, "a batch leaves at least this often")
	fs.DurationVar(&c.fsyncInterval, "fsync-interval", time.Second, "spool fsync interval: the most a machine crash can cost")
	fs.IntVar(&c.queueBytes, "queue-bytes", 64<<20, "in-memory queue size in bytes")
	fs.Int64Var(&c.spoolMaxBytes, "spool-max-bytes", 1<<30, "disk spool cap in bytes; records beyond it are dropped and counted")
	fs.Int64Var(&c.segmentBytes, "spool-segment-bytes", 32<<20, "size of one spool segment file in bytes")
	fs.DurationVar(&c.maxBackoff, "retry-max-backoff", 30*time.Second, "longest wait between attempts to write to a failing store")
	c.clickhouse.register(fs, "where events go and reports are read; without it events go to --clicks")
	fs.StringVar(&c.geoip, "geoip", "", "MaxMind DB `file` (GeoIP2/GeoLite2/DB-IP, City or Country) for country, region and city, reloaded when it changes; empty: the built-in countries (scripts/geo install), when installed; none: no geography")
	fs.StringVar(&c.ipMode, "ip-mode", "truncate", "how much of the visitor's address is stored: full, truncate (/24, /48), hash (daily key) or none")
	fs.DurationVar(&c.duplicateWindow, "duplicate-window", time.Hour, "a click by the same visitor on the same link within this time is flagged duplicate")
	fs.StringVar(&c.partnerTokens, "partner-tokens", "", "`file` of \"partner-id token\" lines: each token reads that partner's reports only")
	fs.StringVar(&c.pixelSecret, "pixel-secret", "", "secret shared with the merchant to sign association pixels (16+ bytes); without it the pixel records nothing")
	fs.StringVar(&c.associationToken, "association-token", "", "bearer token of POST /v1/associations (server-to-server); without it the API answers 403")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGTERM waits for requests and batches")
	fs.DurationVar(&c.requestTimeout, "request-timeout", 10*time.Second, "the most a public connection may take to send a request and read its response (or to send its first byte)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 60*time.Second, "how long a kept-alive public connection may wait for its next request")
	fs.IntVar(&c.maxHeaderBytes, "max-header-bytes", 32<<10, "the largest request line and headers the public listener reads; larger requests get 431 (merchants' domains carry big cookies)")
	fs.DurationVar(&c.rollupEvery, "rollup-every", 5*time.Minute, "how often to roll up the days of events that have ended (the rollups reports read); several servers may all do it; 0: never (another server, or firstclaim migrate, does)")
	fs.DurationVar(&c.reportTimeout, "report-timeout", 60*time.Second, "the most ClickHouse may spend on one report query (max_execution_time); a wider report is refused, not left to hold the server")
	fs.StringVar(&c.memoryLimit, "memory-limit", "1GiB", "soft limit of the process's memory, as GOMEMLIMIT: near it the collector runs more often, whatever --gc-percent says; 0 for none; a GOMEMLIMIT in the environment wins")
	fs.IntVar(&c.gcPercent, "gc-percent", 400, "garbage collector target, as GOGC: the heap may grow this many percent over the live data before a collection; 0 keeps Go's default; a GOGC in the environment wins")
}

// gcTarget sets the collector's target to percent (--gc-percent) unless GOGC is in the
// environment or percent is 0. Each collection's mark phase takes a share of the core while
// requests wait; with one core to a process, the redirects' tail latency is mostly collections.
// 400 makes them a quarter as frequent as Go's default, for a heap of up to five times the live
// data (README, "Running it").
func gcTarget(getenv func(string) string, percent int) {
	if getenv("GOGC") == "" && percent > 0 {
		debug.SetGCPercent(percent)
	}
}

// memoryLimit sets the runtime's soft memory limit (--memory-limit) unless GOMEMLIMIT is in the
// environment. --gc-percent lets the heap grow to five times the live data, which is what keeps
// collections rare; the limit makes the collector work harder only as the process nears it, so a
// burst of buffered records (ClickHouse slow, the queue full) cannot take the resident memory
// past it.
func memoryLimit(getenv func(string) string, limit string) error {
	n, err := parseBytes(limit)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if getenv("GOMEMLIMIT") == "" && n > 0 {
		debug.SetMemoryLimit(n)
	}
	return nil
}

// parseBytes reads a size: a number of bytes, or one with KiB, MiB or GiB after it.
func parseBytes(s string) (int64, error) {
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"", 0}} {
		if v, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 || n > 1<<(62-u.shift) {
				break
			}
			return n << u.shift, nil
		}
	}
	return 0, fmt.Errorf("%q: want a size such as 1GiB, 512MiB or a number of bytes", s)
}

// server is a running firstclaim serve: listeners, the redirector and the sink.
type server struct {
	public   *fasthttp.Server
	admin    *http.Server
	pubLn    net.Listener
	adminLn  net.Listener
	redirect *redirect.Server
	links    *redirect.Links
	catalog  *linkspkg.Catalog // links from ClickHouse; nil with --links
	sink     *sink.Sink
	closers  []func() error
}

func (c *serveCmd) run(ctx context.Context, env *environment) error {
	gcTarget(env.getenv, c.gcPercent)
	if err := memoryLimit(env.getenv, c.memoryLimit); err != nil {
		return err
	}
	s, err := c.start(ctx, env)
	if err != nil {
		return err
	}
	log := env.log
	log.Info("serving", "public", s.pubLn.Addr().String(), "admin", s.adminLn.Addr().String(), "links", s.links.Len())
	if c.ready != nil {
		c.ready(s.pubLn.Addr(), s.adminLn.Addr())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			if c.links == "" {
				continue
			}
			if err := s.links.Load(c.links); err != nil {
				log.Error("links file refused on SIGHUP; the last good set keeps serving", "err", err)
			} else {
				log.Info("links reloaded on SIGHUP", "links", s.links.Len())
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down: no new connections; finishing requests and flushing records")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	return s.shutdown(sctx)
}

func (c *serveCmd) start(ctx context.Context, env *environment) (*server, error) {
	log := env.log
	set := metrics.NewSet()
	// # HELP and # TYPE lines on /metrics, so Prometheus reads histograms as histograms. The
	// library keeps this switch globally; every server of the process wants it on.
	metrics.ExposeMetadata(true)
	if c.requestTimeout <= 0 || c.idleTimeout <= 0 {
		return nil, fmt.Errorf("--request-timeout %s, --idle-timeout %s: both must be positive", c.requestTimeout, c.idleTimeout)
	}
	keys, err := cookie.ParseKeys(c.cookieKeys)
	if err != nil {
		return nil, fmt.Errorf("--cookie-keys: %w", err)
	}
	signer, err := cookie.NewSigner(keys)
	if err != nil {
		return nil, err
	}
	sameSite, err := cookie.ParseSameSite(c.cookieSameSite)
	if err != nil {
		return nil, err
	}
	if c.cookieDomain != "" && !cookie.ValidDomain(c.cookieDomain) {
		return nil, fmt.Errorf("--cookie-domain %q is not a host name", c.cookieDomain)
	}
	trusted, err := redirect.ParsePrefixes(c.trustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	botNets, err := redirect.ParsePrefixes(c.botNetworks)
	if err != nil {
		return nil, fmt.Errorf("--bot-networks: %w", err)
	}
	for _, tok := range []struct{ flag, value string }{
		{"--pixel-secret", c.pixelSecret}, {"--admin-token", c.adminToken}, {"--association-token", c.associationToken},
	} {
		if tok.value != "" && len(tok.value) < minTokenLen {
			return nil, fmt.Errorf("%s is %d bytes; use at least %d (openssl rand -hex 32)", tok.flag, len(tok.value), minTokenLen)
		}
	}
	if c.maxHeaderBytes < 4<<10 || c.maxHeaderBytes > 1<<20 {
		return nil, fmt.Errorf("--max-header-bytes %d: want 4096 to 1048576", c.maxHeaderBytes)
	}
	progs, err := loadPrograms(c.programs)
	if err != nil {
		return nil, err
	}
	links, err := redirect.NewLinks(redirect.LinksOptions{Programs: slices.Collect(maps.Values(progs)), CacheSize: c.cacheSize, Metrics: set, Logger: log})
	if err != nil {
		return nil, err
	}
	if c.links == "" && c.clickhouse.dsn == "" {
		return nil, errors.New("give --links FILE, or --clickhouse to serve the links kept there (managed through /api/v1/links)")
	}
	if c.links != "" {
		if err := links.Load(c.links); err != nil {
			return nil, err
		}
	}

	s := &server{links: links}
	var w sink.Writer
	var db *clickhouse.DB
	if c.clickhouse.dsn != "" {
		if db, err = c.clickhouse.open(); err != nil {
			return nil, err
		}
		s.closers = append(s.closers, db.Close)
		if c.links == "" {
			// The links are ClickHouse's: loaded now (or from the snapshot when ClickHouse does
			// not answer), then polled.
			s.catalog = linkspkg.NewCatalog(linkspkg.Options{Store: db, Links: links,
				Snapshot: filepath.Join(c.dataDir, "links.snapshot"), Metrics: set, Logger: log})
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := s.catalog.Start(sctx)
			cancel()
			if err != nil {
				return nil, err
			}
			pctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.catalog.Run(pctx, c.linksPoll); close(done) }()
			s.closers = append(s.closers, func() error { stop(); <-done; return nil })
		}
		db.SetQueryTimeout(c.reportTimeout)
		db.SetLogger(log)
		// The redirector serves whether or not ClickHouse answers (events wait in the spool), so
		// start-up does not wait for it: a probe in the background tells the operator which it is.
		go probeClickHouse(db, c.clickhouse.dsn, log)
		w = db.Events()
		if c.rollupEvery > 0 {
			rctx, stop := context.WithCancel(context.Background())
			go db.RunRoller(rctx, c.rollupEvery, log)
			s.closers = append(s.closers, func() error { stop(); return nil })
		}
	} else {
		nd, err := ndjson.Open(c.clicks)
		if err != nil {
			return nil, err
		}
		s.closers = append(s.closers, nd.Close)
		w = nd
	}
	if _, err := enrich.ParseIPMode(c.ipMode); err != nil {
		return nil, fmt.Errorf("--ip-mode: %w", err)
	}
	geoPath := c.geoip
	switch geoPath {
	case "none":
		geoPath = ""
	case "":
		if geoPath = enrich.BuiltinGeoPath(env.getenv); geoPath == "" {
			log.Warn("no geography database: country, region and city stay empty (run scripts/geo install for the built-in countries, or give --geoip FILE)")
		}
	}
	geo := enrich.OpenGeo(geoPath, log, set)
	s.closers = append(s.closers, geo.Close)
	enricher, err := enrich.NewEnricher(enrich.Options{Geo: geo, IPMode: c.ipMode, HashKey: derivedKey(keys, "firstclaim ip hash key"),
		DuplicateWindow: c.duplicateWindow, Metrics: set})
	if err != nil {
		return nil, err
	}
	s.sink, err = sink.New(w, sink.Options{
		Enricher:  enricher,
		BatchSize: c.batchSize, FlushInterval: c.flushInterval, QueueBytes: c.queueBytes,
		Dir: filepath.Join(c.dataDir, "spool"), SpoolMaxBytes: c.spoolMaxBytes, SegmentBytes: c.segmentBytes,
		FsyncInterval: c.fsyncInterval, MaxBackoff: c.maxBackoff,
		Metrics: set, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	s.sink.Start()

	s.redirect, err = redirect.New(redirect.Options{
		Links: links, Signer: signer, Recorder: s.sink,
		Cookie:         cookie.Attributes{Domain: c.cookieDomain, Secure: c.cookieSecure, SameSite: sameSite},
		Bots:           enrich.NewBots(0, splitList(c.humanAgents)),
		TrustedProxies: trusted, BotNetworks: botNets, HonorGPC: c.honorGPC,
		ClaimLimit: c.claimLimit, ClaimLimitWindow: c.claimLimitWindow,
		VisitorKey:   visitorKey(keys),
		Associations: redirect.AssociationOptions{PixelSecret: []byte(c.pixelSecret), Token: c.associationToken},
		Metrics:      set, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	watchCtx, stopWatch := context.WithCancel(context.Background())
	s.closers = append(s.closers, func() error { stopWatch(); return nil })
	if c.links != "" {
		go links.Watch(watchCtx, c.links, c.reloadInterval)
	}
	go geo.Watch(watchCtx, c.reloadInterval)

	if s.pubLn, err = net.Listen("tcp", c.listen); err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	if s.adminLn, err = net.Listen("tcp", c.adminListen); err != nil {
		s.pubLn.Close()
		return nil, fmt.Errorf("--admin-listen: %w", err)
	}
	// The connections' time limits are swept once a second rather than set as socket deadlines
	// on every request (see listener.ConnLimits).
	limits := listener.NewConnLimits(c.requestTimeout, c.idleTimeout, time.Second, set)
	go limits.Run(watchCtx)
	s.public = &fasthttp.Server{
		Handler:               s.redirect.Handler,
		Name:                  "firstclaim",
		ConnState:             limits.ConnState,
		MaxRequestBodySize:    64 << 10,
		ReadBufferSize:        c.maxHeaderBytes,
		NoDefaultServerHeader: true,
		Logger:                newRedactingLogger(log, time.Second),
	}
	adminMux := redirect.AdminHandler(redirect.AdminOptions{Token: c.adminToken, Metrics: set, Ready: s.redirect.Ready, Writable: s.sink.Writable})
	access := report.Access{Admin: c.adminToken}
	if c.partnerTokens != "" {
		if access.Partners, err = report.LoadPartnerTokens(c.partnerTokens); err != nil {
			return nil, err
		}
	}
	adminMux.Handle("GET "+apidoc.Path, apidoc.Handler())
	switch {
	case s.catalog != nil:
		api := linkspkg.Handler(linkspkg.APIOptions{Catalog: s.catalog, Scope: access.Scope, KnownProgram: links.HasProgram,
			PublicURL: c.publicURL, Logger: log})
		adminMux.Handle("/api/v1/links", api)
		adminMux.Handle("/api/v1/links/", api)
	default:
		adminMux.HandleFunc("/api/v1/links", linksFromFile)
		adminMux.HandleFunc("/api/v1/links/", linksFromFile)
	}
	if db != nil {
		reports := report.Handler(db, access, report.Page{Geography: geoCredit(geo, geoPath)}, log)
		adminMux.Handle("/api/v1/", reports)
		adminMux.Handle("/ui", reports)
	} else {
		adminMux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "reports read ClickHouse: start the server with --clickhouse", http.StatusServiceUnavailable)
		})
	}
	s.admin = c.adminServer(adminMux, log)
	go func() {
		if err := s.public.Serve(limits.Listener(s.pubLn)); err != nil {
			log.Error("public listener stopped", "err", err)
		}
	}()
	go func() {
		if err := s.admin.Serve(s.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	return s, nil
}

// shutdown stops accepting, finishes requests in flight, then flushes the sink (two stages, see
// sink.Close) within ctx.
func (s *server) shutdown(ctx context.Context) error {
	s.redirect.SetReady(false)
	var errs []error
	if err := s.public.ShutdownWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("public listener: %w", err))
	}
	s.redirect.Close() // the unknown codes counted this minute, to the sink
	if err := s.sink.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("sink: %w", err))
	}
	if err := s.admin.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("admin listener: %w", err))
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// visitorKey derives the key of the visitor hash from the newest cookie key, so every redirector
// with the same keys counts the same visitors and no extra secret needs handing out.
func visitorKey(keys []cookie.Key) [16]byte {
	var k [16]byte
	copy(k[:], derivedKey(keys, "firstclaim visitor key"))
	return k
}

// derivedKey derives a secret for one purpose from the newest cookie key.
func derivedKey(keys []cookie.Key, purpose string) []byte {
	m := hmac.New(sha256.New, keys[0].Secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// linksFromFile answers the links API on a server whose links come from a file.
func linksFromFile(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "this server reads its links from --links FILE: edit the file, or start the servers with --clickhouse and without --links to manage links through this API", http.StatusConflict)
}

// adminServer is the admin listener's server: timeouts on every stage of a connection, so that no
// client can hold one open by sending slowly, or not at all.
func (c *serveCmd) adminServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// A link upload of 100,000 lines is well inside a minute; a report has --report-timeout, a
		// CPU profile its seconds: the writes may take that, and a little more.
		ReadTimeout:    time.Minute,
		WriteTimeout:   c.reportTimeout + 45*time.Second,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       newRedactingLogger(log, time.Second).stdlog(),
	}
}

// geoCredit says where the countries come from, for the reports page: the built-in database's
// licence (CC BY 4.0) asks for credit.
func geoCredit(geo *enrich.Geo, path string) string {
	built := geo.BuildTime()
	switch {
	case built.IsZero():
		return ""
	case filepath.Base(path) == "geo-whois-asn-country.mmdb":
		return "ip-location-db geo-whois-asn-country, built " + built.Format(time.DateOnly) +
			"; data by the Number Resource Organization (nro.net), CC BY 4.0"
	}
	return filepath.Base(path) + ", built " + built.Format(time.DateOnly)
}

// minTokenLen is the shortest secret or bearer token serve accepts.
const minTokenLen = 16

// probeClickHouse says at start whether ClickHouse answers and has this release's schema. It runs
// in the background, bounded by three seconds, so a hung server never holds up start-up.
func probeClickHouse(db *clickhouse.DB, dsn string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	switch have, want, err := db.SchemaVersion(ctx); {
	case err != nil:
		log.Warn("ClickHouse does not answer; events are spooled until it does", "clickhouse", clickhouse.Redact(dsn), "err", err)
	case have < want:
		log.Error("the ClickHouse schema is missing or behind this release; events are spooled until it is there: run firstclaim migrate",
			"clickhouse", clickhouse.Redact(dsn), "schema_version", have, "needed", want)
	default:
		log.Info("events go to ClickHouse", "clickhouse", clickhouse.Redact(dsn))
	}
}
