package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// soak serves half of firstclaim's maximum rate (measured first, in the same run) for a long time,
// from many visitors (addresses and agents, through a trusted proxy), with ClickHouse behind it,
// and watches its resident memory: it must level off, and every click served must be in
// ClickHouse at the end. It writes bench/results/DATE-soak.md.
func soak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	c := &config{}
	dur := fs.Duration("duration", 30*time.Minute, "how long the constant load runs")
	visitors := fs.Int("visitors", 1_000_000, "distinct visitors (address and agent) the requests come from")
	rate := fs.Float64("rate", 0, "requests per second; 0: half the maximum measured first")
	sample := fs.Duration("sample", 10*time.Second, "how often memory is read")
	fs.IntVar(&c.links, "links", 100000, "links")
	fs.IntVar(&c.conns, "conns", 64, "connections")
	fs.StringVar(&c.out, "out", "", "results file (default bench/results/DATE-soak.md)")
	fs.Parse(args)
	var err error
	if c.repo, err = os.Getwd(); err != nil {
		return err
	}
	if c.work, err = os.MkdirTemp("", "firstclaim-soak"); err != nil {
		return err
	}
	defer os.RemoveAll(c.work)
	c.serverCore, c.loadCore, c.chCore, c.loadPriority = "0", "1", "1", "fifo"
	if c.out == "" {
		c.out = filepath.Join("bench", "results", time.Now().UTC().Format("2006-01-02")+"-soak.md")
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
	logf("starting ClickHouse (its data on disk: a long run stores gigabytes)")
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
	t := c.firstclaimTarget("firstclaim", "--trusted-proxies", "127.0.0.1/32", "--claim-limit", "60")
	if err := t.up(); err != nil {
		return err
	}
	// The maximum is measured with the soak's own mix of visitors: each new address and agent costs
	// the enrichment more than one visitor repeated does.
	script := filepath.Join(c.work, "visitors.lua")
	if err := os.WriteFile(script, []byte(luaVisitors(*visitors)), 0o644); err != nil {
		return err
	}
	max := 0.0
	if *rate <= 0 {
		logf("measuring the maximum rate (closed loop, 10 s, the same visitors)")
		r, err := c.wrk(t, script, 10*time.Second, "")
		if err != nil {
			return err
		}
		max = r.rps()
		*rate = max / 2
	}
	logf("soaking: %.0f requests a second from %d visitors for %s", *rate, *visitors, *dur)
	type point struct {
		at                  time.Duration
		rssMiB, heapMiB     float64
		served, spool, drop float64
	}
	var mu sync.Mutex
	var points []point
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	start := time.Now()
	go func() {
		defer wg.Done()
		tick := time.NewTicker(*sample)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			p := point{at: time.Since(start).Round(time.Second), rssMiB: rssMiB(t.cmd.Process.Pid),
				heapMiB: metric(t.admin, "go_memstats_heap_inuse_bytes") / (1 << 20), served: requestsServed(t.admin),
				spool: metric(t.admin, "firstclaim_sink_spool_bytes"), drop: metric(t.admin, "firstclaim_sink_dropped_total")}
			mu.Lock()
			points = append(points, p)
			mu.Unlock()
		}
	}()
	// At normal priority: ClickHouse shares the generator's core and must keep up with the inserts
	// and its merges for the whole run (the side-by-side runs lift the generator to real time for
	// latency, and pause the merges; neither suits a long run).
	cmd := c.loadCommand(false, c.self, "openloop", "--addr", t.addr, "--rate", fmt.Sprint(int(*rate)), "--duration", dur.String(),
		"--conns", fmt.Sprint(c.conns), "--links", fmt.Sprint(c.links), "--visitors", fmt.Sprint(*visitors))
	out, err := cmd.CombinedOutput()
	close(stop)
	wg.Wait()
	if err != nil {
		return fmt.Errorf("openloop: %v\n%s", err, out)
	}
	load, err := parseResult(string(out))
	if err != nil {
		return err
	}
	peak := t.peakRSS()
	served, err := t.down()
	if err != nil {
		return err
	}
	counted, err := c.chQuery("SELECT uniqExact(click_id) FROM firstclaim.clicks")
	if err != nil {
		return err
	}
	stored, _ := strconv.ParseFloat(strings.TrimSpace(counted), 64)

	// Growth over the last 20 minutes (or the last two thirds of a shorter run).
	from := *dur / 3
	if *dur >= 30*time.Minute {
		from = *dur - 20*time.Minute
	}
	var base, last point
	for _, p := range points {
		if base.at == 0 && p.at >= from {
			base = p
		}
		last = p
	}
	growth := last.rssMiB/base.rssMiB - 1
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak, %s\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "Machine: %d cores, %s, Go %s; ClickHouse 18.16.1 (Debian's package) on loopback, its data on disk.\n",
		runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH, runtime.Version())
	fmt.Fprintf(&b, "Command: `bench/soak --duration %s --visitors %d` (`go run ./bench/sidebyside soak ...`).\n\n", *dur, *visitors)
	fmt.Fprintf(&b, "firstclaim on core 0 (GOMAXPROCS=1), the constant-rate generator and ClickHouse on core 1; %d links; every\n", c.links)
	fmt.Fprintf(&b, "request from one of %d visitors (an address through `X-Forwarded-For` from a trusted proxy, two in\n", *visitors)
	fmt.Fprintf(&b, "three IPv4 and one in three IPv6 in a /64 of its own, and one of %d agents: phones, desktops, in-app\n", len(agents))
	b.WriteString("browsers), on one of the links at random; geography, devices, duplicates and the claim limit on.\n\n")
	if max > 0 {
		fmt.Fprintf(&b, "Maximum rate (closed loop, 10 s, measured first): %.0f req/s; the soak ran at half of it, %.0f req/s.\n\n", max, *rate)
	} else {
		fmt.Fprintf(&b, "Rate: %.0f req/s (given).\n\n", *rate)
	}
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| requests answered by the generator | %.0f (%d errors), p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs |\n", load.requests, load.errors, load.p50, load.p99, load.p999)
	fmt.Fprintf(&b, "| clicks firstclaim served (requests_total; the maximum's measurement included) | %.0f |\n", served)
	fmt.Fprintf(&b, "| clicks in ClickHouse (distinct ids) | %.0f |\n", stored)
	fmt.Fprintf(&b, "| dropped (firstclaim_sink_dropped_total) | %.0f |\n", last.drop)
	fmt.Fprintf(&b, "| resident memory at %s / at the end / peak | %.1f / %.1f / %.1f MiB |\n", base.at, base.rssMiB, last.rssMiB, peak)
	fmt.Fprintf(&b, "| growth from %s to the end | %+.1f%% (the bar: under 5%%) |\n\n", base.at, 100*growth)
	b.WriteString("Memory, a row a minute (RSS from /proc; heap in use from the Go runtime; spool bytes waiting):\n\n")
	b.WriteString("| time | RSS MiB | heap in use MiB | served | spool bytes | dropped |\n|---|---|---|---|---|---|\n")
	every := int(time.Minute / *sample)
	for i, p := range points {
		if i%max1(every, 1) == every-1 || i == len(points)-1 {
			fmt.Fprintf(&b, "| %s | %.1f | %.1f | %.0f | %.0f | %.0f |\n", p.at, p.rssMiB, p.heapMiB, p.served, p.spool, p.drop)
		}
	}
	if err := os.WriteFile(c.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	logf("wrote %s: served %.0f, stored %.0f, RSS growth %+.1f%%", c.out, served, stored, 100*growth)
	if stored != served {
		return fmt.Errorf("%.0f clicks served, %.0f in ClickHouse", served, stored)
	}
	return nil
}

// luaVisitors is a wrk script spreading requests over n visitors (an X-Forwarded-For address and
// an agent each) and the links, as the soak's generator does.
func luaVisitors(n int) string {
	var ua []string
	for _, a := range agents {
		ua = append(ua, fmt.Sprintf("%q", a))
	}
	return fmt.Sprintf(`
local links = tonumber(os.getenv("LINKS")) or 100000
local agents = {%s}
math.randomseed(7)
request = function()
  local v = math.random(0, %d - 1)
  local addr
  if v %% 3 == 2 then
    addr = string.format("2001:db8:%%x:%%x::1", v %% 65536, math.floor(v / 65536))
  else
    addr = string.format("%%d.%%d.%%d.%%d", 1 + v %% 223, math.floor(v / 223) %% 256, math.floor(v / 57088) %% 256, 1 + v %% 254)
  end
  return wrk.format("GET", string.format("/r/l%%06d", math.random(0, links - 1)),
    {["X-Forwarded-For"] = addr, ["User-Agent"] = agents[1 + v %% #agents]})
end
`, strings.Join(ua, ", "), n) + luaDone
}

func max1(a, b int) int {
	if a > b {
		return a
	}
	return b
}

// rssMiB is a process's resident memory now.
func rssMiB(pid int) float64 {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
