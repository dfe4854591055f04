package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/firstclaim/firstclaim/bench/internal/measure"
)

const browserUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sidebyside run|soak|bare|openloop|burn [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	case "openloop":
		err = openloop(os.Args[2:])
	case "burn":
		err = burn(os.Args[2:])
	case "soak":
		err = soak(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		os.Exit(1)
	}
}

// config of one comparison run.
type config struct {
	repo, work   string
	self         string // this program, built
	firstclaim   string // the binary under test
	rounds       int
	warmup, dur  time.Duration
	conns        int
	links        int
	serverCore   string
	loadCore     string
	loadPriority string
	chCore       string
	chPid        int
	dsn, chDir   string
	chPort       string
	cookieKeys   string
	staticCookie string // what nginx and the bare server send
	out          string
	merging      bool   // let ClickHouse merge during the measured runs
	chMemory     bool   // ClickHouse's data in a tmpfs folder
	chData       string // where ClickHouse's data went, for the results
	chCleanup    func() // removes ClickHouse's folder once it has stopped
}

// target is a server under test.
type target struct {
	name  string
	addr  string
	cmd   *exec.Cmd
	admin string // firstclaim's admin listener
	start func() error
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	c := &config{}
	fs.IntVar(&c.rounds, "rounds", 3, "rounds of each scenario, targets alternating")
	fs.DurationVar(&c.dur, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&c.conns, "conns", 64, "connections")
	fs.IntVar(&c.links, "links", 100000, "links")
	fs.StringVar(&c.chCore, "clickhouse-core", "1", "core for ClickHouse: 1 shares the load generator's (as if ClickHouse ran elsewhere), 0 the servers'")
	fs.StringVar(&c.loadPriority, "openloop-priority", "fifo", "scheduling of the constant-rate generator: fifo (real time, so ClickHouse on the same core takes only the time it leaves) or normal")
	fs.BoolVar(&c.chMemory, "clickhouse-in-memory", true, "keep ClickHouse's data in a folder of /dev/shm (tmpfs) when it has room; false: with the other files, on disk")
	fs.StringVar(&c.out, "out", "", "results file (default bench/results/DATE-redirect.md)")
	fs.Parse(args)
	if c.loadPriority != "fifo" && c.loadPriority != "normal" {
		return fmt.Errorf("--openloop-priority %q: want fifo or normal", c.loadPriority)
	}
	var err error
	if c.repo, err = os.Getwd(); err != nil {
		return err
	}
	if c.work, err = os.MkdirTemp("", "firstclaim-sbs"); err != nil {
		return err
	}
	defer os.RemoveAll(c.work)
	c.serverCore, c.loadCore = "0", "1"
	if c.out == "" {
		c.out = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02")+"-redirect.md")
	}
	logf("building")
	c.firstclaim = filepath.Join(c.work, "firstclaim")
	c.self = filepath.Join(c.work, "sidebyside")
	for bin, pkg := range map[string]string{c.firstclaim: "./cmd/firstclaim", c.self: "./bench/sidebyside"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	if err := c.writeInputs(); err != nil {
		return err
	}
	logf("starting ClickHouse")
	if err := c.startClickHouse(); err != nil {
		return err
	}
	defer func() {
		exec.Command(filepath.Join(c.repo, "scripts", "clickhouse"), "stop", c.chDir).Run()
		c.chCleanup()
	}()
	if out, err := exec.Command(c.firstclaim, "migrate", "--clickhouse", c.dsn, "--log-level", "warn").CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v\n%s", err, out)
	}
	return c.compare()
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func freeAddr() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

// writeInputs writes the links, nginx's map and config, and a geography file.
func (c *config) writeInputs() error {
	var links, nmap strings.Builder
	links.WriteString("code,url,partner,program,campaign\n")
	for i := 0; i < c.links; i++ {
		u := fmt.Sprintf("https://shop.example.com/p/%d?src=aff", i)
		fmt.Fprintf(&links, "l%06d,%s,p%d,affiliate,bench\n", i, u, i%1000)
		fmt.Fprintf(&nmap, "/r/l%06d \"%s\";\n", i, u)
	}
	if err := os.WriteFile(filepath.Join(c.work, "links.csv"), []byte(links.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.work, "map.conf"), []byte(nmap.String()), 0o644); err != nil {
		return err
	}
	c.cookieKeys = "bench:" + strings.Repeat("5a", 32)
	// nginx and the bare server send a cookie as long as firstclaim's signed one.
	c.staticCookie = "fc_affiliate=bench." + strings.Repeat("A", 120) + "." + strings.Repeat("B", 43) +
		"; Max-Age=1296000; Expires=Wed, 09 Dec 2026 10:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"
	return writeGeo(filepath.Join(c.work, "geo.mmdb"))
}

// chFolder is where ClickHouse keeps its data: a new folder in /dev/shm when asked for and it has
// 8 GiB free (a run stores a few GB), else one beside the other files. The point is to keep the
// filesystem out of the measurement: on a disk formatted without a journal, ext4 makes every new
// file scan past the inodes deleted in the minutes before (recently_deleted), and ClickHouse
// creates some 70 files for every INSERT (a part), one or two a second, while merges between runs
// delete thousands; in a profile that was a sixth of ClickHouse's CPU, taken from the load
// generator's core.
func (c *config) chFolder() (dir string, cleanup func(), err error) {
	if c.chMemory {
		var st syscall.Statfs_t
		const tmpfsMagic = 0x01021994
		if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic && st.Bavail*uint64(st.Bsize) >= 8<<30 {
			dir, err := os.MkdirTemp("/dev/shm", "firstclaim-sbs-ch")
			if err != nil {
				return "", nil, err
			}
			c.chData = "in memory (a tmpfs folder)"
			return dir, func() { os.RemoveAll(dir) }, nil
		}
		logf("/dev/shm is not a tmpfs with 8 GiB free: ClickHouse's data goes to disk")
	}
	c.chData = "on disk, beside the other files"
	return filepath.Join(c.work, "ch"), func() {}, nil
}

func (c *config) startClickHouse() error {
	dir, cleanup, err := c.chFolder()
	if err != nil {
		return err
	}
	c.chCleanup = cleanup
	out, err := exec.Command(filepath.Join(c.repo, "scripts", "clickhouse"), "start", dir).Output()
	if err != nil {
		cleanup()
		return fmt.Errorf("scripts/clickhouse start: %w", err)
	}
	var pid string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "FIRSTCLAIM_CLICKHOUSE":
			c.dsn = v
		case "CLICKHOUSE_DIR":
			c.chDir = v
		case "CLICKHOUSE_PORT":
			c.chPort = v
		case "CLICKHOUSE_PID":
			pid = v
		}
	}
	c.chPid, _ = strconv.Atoi(pid)
	return exec.Command("taskset", "-a", "-p", "-c", c.chCore, pid).Run()
}

func (c *config) nginx() *target {
	t := &target{name: "nginx", addr: freeAddr()}
	t.start = func() error {
		dir := filepath.Join(c.work, "nginx")
		os.MkdirAll(filepath.Join(dir, "tmp"), 0o755)
		conf := fmt.Sprintf(`worker_processes 1;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
  client_body_temp_path %[1]s/tmp; proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  access_log %[1]s/access.log combined buffer=64k flush=1s;
  map_hash_max_size 262144;
  map_hash_bucket_size 128;
  map $uri $dest { default ""; include %[2]s; }
  server {
    listen %[3]s;
    location /r/ {
      if ($dest = "") { return 404; }
      add_header Set-Cookie "%[4]s";
      add_header Cache-Control "private, no-store";
      return 302 "$dest&click_id=$request_id";
    }
  }
}
`, dir, filepath.Join(c.work, "map.conf"), t.addr, c.staticCookie)
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return err
		}
		t.cmd = exec.Command("taskset", "-c", c.serverCore, "nginx", "-c", path, "-p", dir)
		t.cmd.Stderr = os.Stderr
		return t.cmd.Start()
	}
	return t
}

func (c *config) bare() *target {
	t := &target{name: "bare fasthttp", addr: freeAddr()}
	t.start = func() error {
		t.cmd = exec.Command("taskset", "-c", c.serverCore, c.self, "bare", "--listen", t.addr,
			"--links", filepath.Join(c.work, "links.csv"), "--cookie", c.staticCookie)
		t.cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		return t.cmd.Start()
	}
	return t
}

func (c *config) firstclaimTarget(name string, extra ...string) *target {
	t := &target{name: name, addr: freeAddr(), admin: freeAddr()}
	data := filepath.Join(c.work, "data-"+strings.NewReplacer(" ", "-", ",", "").Replace(name))
	t.start = func() error {
		args := append([]string{"-c", c.serverCore, c.firstclaim, "serve", "--listen", t.addr, "--admin-listen", t.admin,
			"--links", filepath.Join(c.work, "links.csv"), "--cookie-keys", c.cookieKeys, "--clickhouse", c.dsn,
			"--data-dir", data, "--geoip", filepath.Join(c.work, "geo.mmdb"), "--admin-token", "bench-admin-token-0123",
			"--claim-limit", "0", "--log-level", "warn"}, extra...)
		t.cmd = exec.Command("taskset", args...)
		t.cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		t.cmd.Stderr = os.Stderr
		return t.cmd.Start()
	}
	return t
}

// up starts t and waits until it answers.
func (t *target) up() error {
	if err := t.start(); err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if conn, err := net.Dial("tcp", t.addr); err == nil {
			conn.Close()
			return nil
		}
	}
	return fmt.Errorf("%s did not start", t.name)
}

// down stops t gracefully (firstclaim flushes its clicks) and returns firstclaim's request count.
func (t *target) down() (float64, error) {
	served := -1.0
	if t.admin != "" {
		served = requestsServed(t.admin)
	}
	t.cmd.Process.Signal(syscall.SIGTERM)
	if t.name == "nginx" {
		t.cmd.Process.Signal(syscall.SIGQUIT)
	}
	done := make(chan error, 1)
	go func() { done <- t.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.cmd.Process.Kill()
		return served, fmt.Errorf("%s did not stop", t.name)
	}
	return served, nil
}

// requestsServed sums firstclaim's requests_total over every outcome.
func requestsServed(admin string) float64 { return metric(admin, "firstclaim_requests_total{") }

// collections returns how many garbage collections firstclaim has run so far, or -1 for a target
// that is not firstclaim.
func (t *target) collections() float64 {
	if t.admin == "" {
		return -1
	}
	return metric(t.admin, "go_gc_duration_seconds_count")
}

// metric sums the values of firstclaim's metric lines that begin with prefix, or returns -1 when
// /metrics does not answer.
func metric(admin, prefix string) float64 {
	req, _ := http.NewRequest("GET", "http://"+admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer bench-admin-token-0123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	total := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

// pids returns t's process and its children (nginx's workers).
func (t *target) pids() []int {
	root := t.cmd.Process.Pid
	out := []int{root}
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", p, p))
		for _, f := range strings.Fields(string(data)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// cpu returns the CPU seconds used so far by t's processes.
func (t *target) cpu() float64 {
	total := 0.0
	for _, p := range t.pids() {
		total += measure.ProcCPU(p)
	}
	return total
}

// peakRSS is the sum of t's processes' peak resident memory, in MiB.
func (t *target) peakRSS() float64 {
	total := 0.0
	for _, p := range t.pids() {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				total += kb / 1024
			}
		}
	}
	return total
}

// result of one measured run.
type result struct {
	requests       float64
	seconds        float64
	p50, p99, p999 float64 // microseconds
	errors         int
	cpuPer100k     float64
	chCPUPer100k   float64 // ClickHouse's, ingesting the clicks
	rss            float64
	gcs            float64 // firstclaim's garbage collections during the run; -1 for the others
}

func (r result) rps() float64 { return r.requests / r.seconds }

func parseResult(out string) (result, error) {
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			var r result
			var us float64
			var status, sock int
			if _, err := fmt.Sscan(rest, &r.requests, &us, &r.p50, &r.p99, &r.p999, &status, &sock); err != nil {
				return r, err
			}
			r.seconds, r.errors = us/1e6, status+sock
			return r, nil
		}
	}
	return result{}, errors.New("no RESULT line in:\n" + out)
}

// loadCommand runs a load generator on the load core, at real-time priority when rt is set.
func (c *config) loadCommand(rt bool, args ...string) *exec.Cmd {
	args = append([]string{"taskset", "-c", c.loadCore}, args...)
	if rt {
		args = append([]string{"chrt", "--fifo", "50"}, args...)
	}
	return exec.Command(args[0], args[1:]...)
}

// wrk runs closed-loop load on the load core.
func (c *config) wrk(t *target, script string, d time.Duration, cookie string) (result, error) {
	cmd := c.loadCommand(false, "wrk", "-t1", fmt.Sprintf("-c%d", c.conns),
		fmt.Sprintf("-d%ds", int(d.Seconds())), "--timeout", "5s", "-s", script, "http://"+t.addr)
	cmd.Env = append(os.Environ(), "COOKIE="+cookie, fmt.Sprintf("LINKS=%d", c.links))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseResult(string(out))
}

// quiet keeps ClickHouse's background merges out of a run: it lets them bring the clicks table
// down to a few parts, then stops new ones until the returned function starts them again.
// ClickHouse shares the load generator's core here (in production it runs on machines of its own);
// a merge of millions of rows takes that core from wrk for seconds, and every target's numbers
// would depend on when one happened to run. ClickHouse's own CPU during the run, inserts included,
// is still measured. (Waiting only for the merges under way is not enough: just after START MERGES
// none may be scheduled yet, and parts pile up run after run until ClickHouse refuses inserts.)
func (c *config) quiet() (func(), error) {
	if c.merging {
		return func() {}, nil
	}
	const maxParts = 40 // ClickHouse refuses inserts at 300 in a partition
	deadline := time.Now().Add(3 * time.Minute)
	for {
		out, err := c.chQuery("SELECT (SELECT count() FROM system.parts WHERE active AND database = 'firstclaim' AND table = 'clicks'), " +
			"(SELECT count() FROM system.merges)")
		if err != nil {
			return nil, err
		}
		var parts, merges int
		fmt.Sscan(out, &parts, &merges)
		if parts <= maxParts && merges == 0 {
			break
		}
		if time.Now().After(deadline) {
			logf("ClickHouse still merging after 3 minutes (%d parts, %d merges); measuring anyway", parts, merges)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if _, err := c.chQuery("SYSTEM STOP MERGES"); err != nil {
		return nil, err
	}
	return func() {
		if _, err := c.chQuery("SYSTEM START MERGES"); err != nil {
			logf("cannot restart ClickHouse's merges: %v", err)
		}
	}, nil
}

func (c *config) chQuery(q string) (string, error) {
	out, err := exec.Command("clickhouse-client", "--port", c.chPort, "--query", q).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("clickhouse-client %q: %v: %s", q, err, out)
	}
	return string(out), nil
}

// measure runs a warm-up, then the measured run with CPU and memory readings around it.
func (c *config) measure(t *target, script, cookie string, warm bool) (result, error) {
	resume, err := c.quiet()
	if err != nil {
		return result{}, err
	}
	defer resume()
	if warm && c.warmup > 0 {
		if _, err := c.wrk(t, script, c.warmup, cookie); err != nil {
			return result{}, err
		}
	}
	cpu0, ch0, gc0 := t.cpu(), measure.ProcCPU(c.chPid), t.collections()
	r, err := c.wrk(t, script, c.dur, cookie)
	if err != nil {
		return r, err
	}
	r.gcs = collectionsSince(t, gc0)
	r.cpuPer100k = (t.cpu() - cpu0) / r.requests * 100000
	r.chCPUPer100k = (measure.ProcCPU(c.chPid) - ch0) / r.requests * 100000
	r.rss = t.peakRSS()
	return r, nil
}

func (c *config) openloop(t *target, rate float64, cookie string) (result, error) {
	resume, err := c.quiet()
	if err != nil {
		return result{}, err
	}
	defer resume()
	// With --openloop-priority fifo (the default) the generator runs at real-time priority.
	// ClickHouse shares its core on this two-core machine, and each INSERT's burst of work would
	// otherwise hold back the requests the generator is due to send, for milliseconds; each is then
	// charged from its intended send time as if the server had been slow. The generator sleeps
	// between sends, so ClickHouse still gets the rest of the core (its CPU is reported). wrk is
	// not given this priority: it keeps its core busy and would starve the kernel's network
	// threads there, which distorted every target's closed-loop latency when tried.
	cmd := c.loadCommand(c.loadPriority == "fifo", c.self, "openloop", "--addr", t.addr,
		"--rate", fmt.Sprint(int(rate)), "--duration", c.dur.String(), "--conns", fmt.Sprint(c.conns),
		"--links", fmt.Sprint(c.links), "--cookie", cookie)
	gc0, cpu0 := t.collections(), t.cpu()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("openloop: %v\n%s", err, out)
	}
	r, err := parseResult(string(out))
	if err != nil {
		return r, err
	}
	r.cpuPer100k = (t.cpu() - cpu0) / r.requests * 100000
	r.gcs = collectionsSince(t, gc0)
	return r, nil
}

// collectionsSince returns firstclaim's garbage collections since it had run gc0, or -1.
func collectionsSince(t *target, gc0 float64) float64 {
	if gc0 < 0 {
		return -1
	}
	if gc1 := t.collections(); gc1 >= gc0 {
		return gc1 - gc0
	}
	return -1
}

// claimCookie asks firstclaim for a claim of partner p1, to send on every request of the
// protected scenario.
func claimCookie(t *target) (string, error) {
	req, _ := http.NewRequest("GET", "http://"+t.addr+"/r/l000001", nil)
	req.Header.Set("User-Agent", browserUA)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	v, _, _ := strings.Cut(resp.Header.Get("Set-Cookie"), ";")
	if v == "" {
		return "", errors.New("no claim cookie from firstclaim")
	}
	return v, nil
}
