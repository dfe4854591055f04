package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

const chromeUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

func linksFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "links.csv")
	if err := os.WriteFile(p, []byte("code,url,partner,program,campaign\nsummer,https://shop.example.com/,partner-a,affiliate,summer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// served is what a load generator saw: each click id the redirector answered with, and when.
type served struct {
	mu  sync.Mutex
	ids map[string]time.Time
}

func (s *served) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ids))
	for id := range s.ids {
		out = append(out, id)
	}
	return out
}

// load clicks /r/summer from workers goroutines until stop is closed (or n clicks, when n > 0), and
// records the click id of every 302 it receives. Errors (a server going away) are not clicks.
func load(t *testing.T, base string, workers, n int, stop <-chan struct{}) *served {
	s := &served{ids: map[string]time.Time{}}
	var wg sync.WaitGroup
	var count sync.Mutex
	left := n
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{CheckRedirect: noFollow.CheckRedirect, Timeout: 5 * time.Second,
				Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n > 0 {
					count.Lock()
					if left == 0 {
						count.Unlock()
						return
					}
					left--
					count.Unlock()
				}
				req, _ := http.NewRequest("GET", base+"/r/summer", nil)
				req.Header.Set("User-Agent", chromeUA)
				resp, err := client.Do(req)
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusFound {
					t.Errorf("status %d", resp.StatusCode)
					continue
				}
				u, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || u.Query().Get("click_id") == "" {
					t.Errorf("Location %q has no click id", resp.Header.Get("Location"))
					continue
				}
				s.mu.Lock()
				s.ids[u.Query().Get("click_id")] = time.Now()
				s.mu.Unlock()
			}
		}()
	}
	if n > 0 {
		wg.Wait()
		return s
	}
	go func() { <-stop; wg.Wait() }()
	return s
}

// clickIDs returns the distinct click ids in ClickHouse.
func clickIDs(t *testing.T, db *clickhouse.DB) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := db.Conn().Query(ctx, "SELECT DISTINCT click_id FROM clicks")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id] = true
	}
	return out
}

// missing lists the served ids that ClickHouse lacks, and counts the ids it has that nobody was
// served (there must be none beyond what the caller expects).
func compare(served []string, stored map[string]bool) (missing []string, extra int) {
	seen := map[string]bool{}
	for _, id := range served {
		seen[id] = true
		if !stored[id] {
			missing = append(missing, id)
		}
	}
	for id := range stored {
		if !seen[id] {
			extra++
		}
	}
	return missing, extra
}

func metricsText(t *testing.T, admin, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(text, name string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return -1
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestServeWritesEveryClickToClickHouse(t *testing.T) {
	dsn, conn := chtest.Database(t)
	public, _, logs, stop := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--claim-limit", "0", "--flush-interval", "100ms")
	s := load(t, public, 4, 2000, nil)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	missing, extra := compare(s.list(), clickIDs(t, conn))
	if len(s.list()) != 2000 || len(missing) != 0 || extra != 0 {
		t.Fatalf("served %d, missing in ClickHouse %d, unexpected %d", len(s.list()), len(missing), extra)
	}
	if !strings.Contains(logs.String(), "events go to ClickHouse") || strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("logs:\n%s", logs)
	}
}

func TestClickHouseOutageUnderLoadLosesNothing(t *testing.T) {
	srv := chtest.NewServer(t)
	dsn, conn := chtest.DatabaseOn(t, srv.DSN)
	public, admin, logs, stop := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", t.TempDir(),
		"--claim-limit", "0", "--flush-interval", "100ms", "--retry-max-backoff", "500ms", "--admin-token", "admin-token-for-tests")

	stopLoad := make(chan struct{})
	s := load(t, public, 4, 0, stopLoad)
	time.Sleep(time.Second)
	srv.Stop()
	time.Sleep(2 * time.Second)
	during := metricsText(t, admin, "admin-token-for-tests")
	srv.Start()
	time.Sleep(time.Second)
	close(stopLoad)
	time.Sleep(200 * time.Millisecond)

	// Without a shutdown: the spool drains by itself once ClickHouse is back.
	if !waitFor(30*time.Second, func() bool {
		return metricValue(metricsText(t, admin, "admin-token-for-tests"), "firstclaim_sink_spool_bytes") == 0
	}) {
		t.Fatalf("the spool did not drain:\n%s", logs)
	}
	after := metricsText(t, admin, "admin-token-for-tests")
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	missing, extra := compare(s.list(), clickIDs(t, conn))
	t.Logf("served %d clicks; spooled %v, replayed %v", len(s.list()),
		metricValue(after, "firstclaim_sink_spooled_total"), metricValue(after, "firstclaim_sink_replayed_total"))
	if len(missing) != 0 || extra != 0 || len(s.list()) < 100 {
		t.Fatalf("served %d, missing in ClickHouse %d, unexpected %d", len(s.list()), len(missing), extra)
	}
	if metricValue(during, "firstclaim_sink_spool_bytes") <= 0 || metricValue(after, "firstclaim_sink_replayed_total") <= 0 ||
		metricValue(after, "firstclaim_sink_dropped_total") != 0 {
		t.Fatalf("metrics do not show the outage: during:\n%s\nafter:\n%s", during, after)
	}
}

func TestCorruptSpoolSegmentLosesOnlyThatSegment(t *testing.T) {
	dsn, conn := chtest.Database(t)
	data := t.TempDir()
	links := linksFile(t)
	// First run: no ClickHouse at all, so every click is spooled, in small segments.
	public, _, logs, stop := startServe(t, "--links", links, "--clickhouse", "clickhouse://127.0.0.1:1/nowhere?dial_timeout=100ms",
		"--data-dir", data, "--claim-limit", "0", "--flush-interval", "50ms", "--spool-segment-bytes", "65536")
	s := load(t, public, 4, 3000, nil)
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	segs, _ := filepath.Glob(filepath.Join(data, "spool", "*.seg"))
	slices.Sort(segs)
	if len(segs) < 4 {
		t.Fatalf("want several spool segments, got %v", segs)
	}
	// Damage a record in the middle of the second segment: it and the rest of that segment are lost.
	seg := segs[1]
	raw, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	off, frame := 0, 0
	var damageAt int
	for off+8 <= len(raw) {
		n := int(binary.LittleEndian.Uint32(raw[off:]))
		var c firstclaim.Click
		if err := firstclaim.DecodeClick(raw[off+8:off+8+n], &c); err != nil {
			t.Fatal(err)
		}
		if frame == 10 {
			damageAt = off + 8 + n/2
		}
		if frame >= 10 {
			lost = append(lost, c.ID)
		}
		off += 8 + n
		frame++
	}
	raw[damageAt] ^= 0xff
	if err := os.WriteFile(seg, raw, 0o640); err != nil {
		t.Fatal(err)
	}

	// Second run: ClickHouse is there; the spool replays, and shutdown drains it.
	_, admin, logs2, stop2 := startServe(t, "--links", links, "--clickhouse", dsn, "--data-dir", data, "--admin-token", "admin-token-for-tests")
	if !waitFor(30*time.Second, func() bool {
		return metricValue(metricsText(t, admin, "admin-token-for-tests"), "firstclaim_sink_spool_bytes") == 0
	}) {
		t.Fatalf("the spool did not drain:\n%s", logs2)
	}
	m := metricsText(t, admin, "admin-token-for-tests")
	if code := stop2(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs2)
	}
	missing, extra := compare(s.list(), clickIDs(t, conn))
	slices.Sort(missing)
	slices.Sort(lost)
	if !slices.Equal(missing, lost) || extra != 0 || len(s.list()) != 3000 {
		t.Fatalf("served %d; missing %d, want exactly the %d after the damage; unexpected %d", len(s.list()), len(missing), len(lost), extra)
	}
	if metricValue(m, "firstclaim_sink_spool_corrupt_segments_total") != 1 || !strings.Contains(logs2.String(), "corrupt segment") {
		t.Fatalf("the damage was not counted and logged:\n%s\n%s", m, logs2)
	}
}

// The real binary, for signals.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func serveBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short skips tests that build and signal the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "firstclaim-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "firstclaim")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type process struct {
	cmd           *exec.Cmd
	public, admin string
	logs          *chtest.SyncBuffer
	exited        chan struct{}
}

// startBinary runs the built binary and waits until it answers.
func startBinary(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{public: freePort(t), admin: freePort(t), logs: &chtest.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(serveBinary(t), append([]string{"serve", "--listen", p.public, "--admin-listen", p.admin,
		"--cookie-keys", testSecret, "--claim-limit", "0"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	p.cmd.Env = append(os.Environ(), "FIRSTCLAIM_CLICKHOUSE=")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	p.public, p.admin = "http://"+p.public, "http://"+p.admin
	if !waitFor(15*time.Second, func() bool {
		resp, err := http.Get(p.admin + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}) {
		t.Fatalf("the binary did not start:\n%s", p.logs)
	}
	return p
}

func (p *process) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit after %v:\n%s", sig, p.logs)
	}
}

func TestSIGTERMUnderLoadThenRestartLosesNothing(t *testing.T) {
	dsn, conn := chtest.Database(t)
	data, links := t.TempDir(), linksFile(t)
	p := startBinary(t, "--links", links, "--clickhouse", dsn, "--data-dir", data, "--flush-interval", "1s")
	stopLoad := make(chan struct{})
	s := load(t, p.public, 4, 0, stopLoad)
	time.Sleep(1500 * time.Millisecond)
	p.signal(t, syscall.SIGTERM) // under load: requests in flight finish, then the sink flushes
	close(stopLoad)
	time.Sleep(100 * time.Millisecond)
	if p.cmd.ProcessState.ExitCode() != 0 || !strings.Contains(p.logs.String(), "shutting down") {
		t.Fatalf("exit %d:\n%s", p.cmd.ProcessState.ExitCode(), p.logs)
	}
	// And again: whatever the first run had to leave in the spool goes in now.
	p2 := startBinary(t, "--links", links, "--clickhouse", dsn, "--data-dir", data)
	p2.signal(t, syscall.SIGTERM)
	missing, extra := compare(s.list(), clickIDs(t, conn))
	t.Logf("served %d clicks before SIGTERM", len(s.list()))
	if len(missing) != 0 || extra != 0 || len(s.list()) < 100 {
		t.Fatalf("served %d, missing in ClickHouse %d, unexpected %d\n%s", len(s.list()), len(missing), extra, p.logs)
	}
}

// kill -9 takes what is only in memory: the newest clicks, those not yet written or spooled. The
// test measures the loss, and checks its shape rather than a wall-clock bound (which would depend on
// how busy the machine is): records are queued and written in order, so what is lost is a tail,
// every lost click served after every stored one (with a little slack for concurrent requests,
// whose records and answers can cross).
func TestKill9LosesOnlyTheNewestClicks(t *testing.T) {
	dsn, conn := chtest.Database(t)
	data, links := t.TempDir(), linksFile(t)
	const flush = 200 * time.Millisecond
	p := startBinary(t, "--links", links, "--clickhouse", dsn, "--data-dir", data,
		"--flush-interval", flush.String(), "--fsync-interval", flush.String())
	stopLoad := make(chan struct{})
	s := load(t, p.public, 4, 0, stopLoad)
	time.Sleep(2 * time.Second)
	killedAt := time.Now()
	p.signal(t, syscall.SIGKILL)
	close(stopLoad)
	time.Sleep(100 * time.Millisecond)

	p2 := startBinary(t, "--links", links, "--clickhouse", dsn, "--data-dir", data)
	p2.signal(t, syscall.SIGTERM)
	stored := clickIDs(t, conn)
	missing, extra := compare(s.list(), stored)
	// A batch cut off mid-insert may have reached ClickHouse after its clicks were answered; it
	// never adds ids nobody was served.
	if extra != 0 {
		t.Fatalf("%d ids in ClickHouse that no client was served", extra)
	}
	var newestStored, oldestLost time.Time
	for id, at := range s.ids {
		if stored[id] && at.After(newestStored) {
			newestStored = at
		}
	}
	for _, id := range missing {
		if at := s.ids[id]; oldestLost.IsZero() || at.Before(oldestLost) {
			oldestLost = at
		}
	}
	const slack = 100 * time.Millisecond
	if len(missing) > 0 && oldestLost.Before(newestStored.Add(-slack)) {
		t.Errorf("lost a click served %v before the newest stored one: the loss is not a tail", newestStored.Sub(oldestLost))
	}
	if len(stored) == 0 {
		t.Fatal("nothing reached ClickHouse")
	}
	window := time.Duration(0)
	if len(missing) > 0 {
		window = killedAt.Sub(oldestLost)
	}
	t.Logf("kill -9: served %d, lost %d (%.2f%%), the clicks of the last %v before the kill", len(s.list()), len(missing),
		100*float64(len(missing))/float64(len(s.list())), window.Round(time.Millisecond))
	if len(s.list()) < 100 {
		t.Fatalf("only %d clicks served", len(s.list()))
	}
}

// A server pointed at a database that was never migrated says so at start, and keeps every click
// (spooled) until the schema is there.
func TestServeSaysWhenTheSchemaIsMissing(t *testing.T) {
	base := chtest.ServerDSN(t)
	dsn := strings.Replace(base, "/firstclaim", "/never_migrated_"+strconv.FormatInt(time.Now().UnixNano(), 36), 1)
	data := t.TempDir()
	public, _, logs, stop := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", data, "--flush-interval", "50ms",
		"--retry-max-backoff", "200ms")
	s := load(t, public, 2, 50, nil)
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(logs.String(), "run firstclaim migrate") || !strings.Contains(logs.String(), "needed=") {
		t.Fatalf("no clear word about the schema:\n%s", logs)
	}
	stop()
	// Migrate, start again: the spooled clicks go in.
	if code, _, stderr := runCmd(t, "migrate", "--clickhouse", dsn); code != 0 {
		t.Fatal(stderr)
	}
	_, _, logs2, stop2 := startServe(t, "--links", linksFile(t), "--clickhouse", dsn, "--data-dir", data)
	if strings.Contains(logs2.String(), "run firstclaim migrate") {
		t.Fatalf("a migrated database reported as behind:\n%s", logs2)
	}
	stop2()
	conn, err := clickhouse.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	defer conn.Conn().Exec(context.Background(), "DROP DATABASE IF EXISTS "+strings.TrimPrefix(dsn[strings.LastIndexByte(dsn, '/'):], "/"))
	missing, extra := compare(s.list(), clickIDs(t, conn))
	if len(s.list()) != 50 || len(missing) != 0 || extra != 0 {
		t.Fatalf("served %d, missing %d, unexpected %d", len(s.list()), len(missing), extra)
	}
}

// TestMain removes the binary serveBinary built, once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// migrate rolls up the days of events already stored and finishes each month that has ended (its
// rollups merged, its month rows made), saying so; run again, it has nothing to do.
func TestMigrateFinishesEndedMonths(t *testing.T) {
	dsn, db := chtest.Database(t)
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -2, 0)
	ts := month.AddDate(0, 1, -1).Add(12 * time.Hour) // the month's last day
	chtest.Exec(t, db, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor) SELECT ?, ?, 'L1', 'P1', 'affiliate', 'claimed', 1`,
		firstclaim.NewIDString(ts), ts)
	code, stdout, stderr := runCmd(t, "migrate", "--clickhouse", dsn)
	if code != 0 {
		t.Fatal(stderr)
	}
	if !strings.Contains(stdout, "rolled up "+ts.Format(time.DateOnly)+": 1 clicks") ||
		!strings.Contains(stdout, "merged the rollups of "+month.Format("2006-01")+" and made its month rows") {
		t.Fatalf("migrate said:\n%s", stdout)
	}
	if strings.Contains(stdout, "merged the rollups of "+now.Format("2006-01")) {
		t.Fatalf("migrate finished the month under way:\n%s", stdout)
	}
	if code, stdout, stderr := runCmd(t, "migrate", "--clickhouse", dsn); code != 0 || !strings.Contains(stdout, "rollups are up to date") {
		t.Fatalf("migrate again: %d\n%s%s", code, stdout, stderr)
	}
	// A month that cannot be finished (here its table of month rows is gone) leaves the days
	// rolled up and migrate done, with a warning: reports read the month by day.
	chtest.Exec(t, db, "DROP TABLE rollup_clicks_links_months")
	older := month.AddDate(0, -1, 3).Add(9 * time.Hour)
	chtest.Exec(t, db, `INSERT INTO clicks (click_id, ts, link, partner_id, program, outcome, visitor) SELECT ?, ?, 'L1', 'P1', 'affiliate', 'claimed', 2`,
		firstclaim.NewIDString(older), older)
	code, stdout, stderr = runCmd(t, "migrate", "--clickhouse", dsn)
	if code != 0 || !strings.Contains(stdout, "rolled up "+older.Format(time.DateOnly)+": 1 clicks") ||
		!strings.Contains(stderr, "warning: some months could not be finished") || !strings.Contains(stderr, "rollup_clicks_links_months") {
		t.Fatalf("migrate with a month it cannot finish: %d\n%s%s", code, stdout, stderr)
	}
}
