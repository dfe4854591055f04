package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/firstclaim/firstclaim/bench/internal/measure"
)

const luaDone = `
local cookie = os.getenv("COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
wrk.headers["User-Agent"] = "` + browserUA + `"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.0f %.0f %.0f %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))
end
`

const luaHot = `wrk.path = "/r/l000042"` + luaDone

const luaUniform = `
local n = tonumber(os.getenv("LINKS")) or 100000
math.randomseed(42)
request = function()
  return wrk.format("GET", string.format("/r/l%06d", math.random(0, n - 1)))
end
` + luaDone

func writeGeo(path string) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		return err
	}
	for _, n := range []struct{ cidr, country, city string }{
		{"127.0.0.0/8", "GB", "London"}, {"81.2.69.0/24", "GB", "London"}, {"2001:db8::/32", "DE", "Berlin"},
	} {
		_, ipn, _ := net.ParseCIDR(n.cidr)
		if err := tree.Insert(ipn, mmdbtype.Map{
			"country": mmdbtype.Map{"iso_code": mmdbtype.String(n.country)},
			"city":    mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.city)}},
		}); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = tree.WriteTo(f)
	return err
}

type scenario struct {
	name, script, cookie string
	targets              []*target
}

type runRow struct {
	scenario, target string
	round            int
	r                result
}

func (c *config) compare() error {
	hot := filepath.Join(c.work, "hot.lua")
	uniform := filepath.Join(c.work, "uniform.lua")
	os.WriteFile(hot, []byte(luaHot), 0o644)
	os.WriteFile(uniform, []byte(luaUniform), 0o644)

	ng, bare := c.nginx(), c.bare()
	fc := c.firstclaimTarget("firstclaim", "--shutdown-timeout", "120s")
	small := c.firstclaimTarget("firstclaim, cache 10,000", "--cache-size", "10000", "--shutdown-timeout", "120s")
	all := []*target{ng, bare, fc}
	for _, t := range all {
		if err := t.up(); err != nil {
			return err
		}
	}
	served := 0.0 // requests on /r/ answered by the firstclaim instances stopped so far
	stop := func(t *target) error {
		n, err := t.down()
		if t.admin != "" {
			served += n
		}
		return err
	}
	claim, err := claimCookie(fc)
	if err != nil {
		return err
	}
	var rows []runRow
	record := func(s, t string, round int, r result) {
		rows = append(rows, runRow{s, t, round, r})
		logf("%-44s %-26s round %d: %8.0f req/s  p50 %5.0f us  p99 %6.0f us  p99.9 %6.0f us  cpu %.2f s/100k  errors %d%s",
			s, t, round, r.rps(), r.p50, r.p99, r.p999, r.cpuPer100k, r.errors, gcNote(r))
	}
	scenarios := []scenario{
		{"hot link (cache hits)", hot, "", all},
		{fmt.Sprintf("uniform over %d links", c.links), uniform, "", all},
		{"protected: every visitor has another's claim", uniform, claim, all},
	}
	for _, s := range scenarios {
		for round := 1; round <= c.rounds; round++ {
			for _, t := range s.targets {
				r, err := c.measure(t, s.script, s.cookie, true)
				if err != nil {
					return err
				}
				record(s.name, t.name, round, r)
			}
		}
	}
	// Misses: a cache of 10,000 prepared links under a spread over all of them. nginx and the bare
	// server serve the same spread in the same rounds, alternating, so the ratios compare runs made
	// in the same state of the machine (nginx has no cache to shrink: its map is the reference).
	if err := small.up(); err != nil {
		return err
	}
	missName := fmt.Sprintf("uniform, cache smaller than the %d links", c.links)
	for round := 1; round <= c.rounds; round++ {
		for _, t := range []*target{ng, bare, small} {
			r, err := c.measure(t, uniform, "", true)
			if err != nil {
				return err
			}
			record(missName, t.name, round, r)
		}
	}
	if err := stop(small); err != nil {
		return err
	}

	// The same spread with ClickHouse merging its parts during firstclaim's runs, on the load core:
	// what the other runs keep out of the measurement (see quiet). nginx and the bare server, which
	// write nothing to ClickHouse, alternate with it as everywhere else.
	mergeName := fmt.Sprintf("uniform over %d links, ClickHouse merging during the run", c.links)
	for round := 1; round <= c.rounds; round++ {
		for _, t := range all {
			c.merging = t == fc
			r, err := c.measure(t, uniform, "", true)
			c.merging = false
			if err != nil {
				return err
			}
			record(mergeName, t.name, round, r)
		}
	}

	// Control: nginx on the uniform spread with ClickHouse's share of the load core taken. During
	// firstclaim's runs ClickHouse's inserts work on wrk's core, in bursts; nginx and the bare server
	// never share that core with anything. A busy loop on the load core, busy for the same share of
	// the time (ClickHouse's CPU during firstclaim's uniform runs), shows what that alone costs.
	var shares []float64
	for _, r := range rows {
		if r.scenario == scenarios[1].name && r.target == fc.name {
			shares = append(shares, r.r.chCPUPer100k*r.r.rps()/100000)
		}
	}
	share := measure.Median(shares)
	controlName := fmt.Sprintf("uniform over %d links, %.0f%% of the load core kept busy (ClickHouse's share in firstclaim's runs)", c.links, 100*share)
	for round := 1; round <= c.rounds; round++ {
		burner := c.loadCommand(false, c.self, "burn", "--share", fmt.Sprintf("%.3f", share), "--period", burnPeriod.String(),
			"--duration", (c.warmup + c.dur + 5*time.Second).String())
		if err := burner.Start(); err != nil {
			return fmt.Errorf("burn: %w", err)
		}
		r, err := c.measure(ng, uniform, "", true)
		burner.Process.Kill()
		burner.Wait()
		if err != nil {
			return err
		}
		record(controlName, ng.name, round, r)
	}

	// Constant rate: half of nginx's maximum on the uniform spread, open loop.
	var ngMax []float64
	for _, r := range rows {
		if r.scenario == scenarios[1].name && r.target == ng.name {
			ngMax = append(ngMax, r.r.rps())
		}
	}
	rate := measure.Median(ngMax) / 2
	rateName := fmt.Sprintf("constant %.0f req/s (half of nginx's uniform maximum), open loop", rate)
	for round := 1; round <= c.rounds; round++ {
		for _, t := range all {
			r, err := c.openloop(t, rate, "")
			if err != nil {
				return err
			}
			record(rateName, t.name, round, r)
		}
	}

	// Cold start: a fresh process, measured from its first request, no warm-up.
	coldName := "cold start: first run after a restart, uniform"
	startup := map[string][]float64{}
	for round := 1; round <= c.rounds; round++ {
		for _, t := range all {
			if err := stop(t); err != nil {
				return err
			}
			t0 := time.Now()
			if err := t.up(); err != nil {
				return err
			}
			startup[t.name] = append(startup[t.name], float64(time.Since(t0).Milliseconds()))
			r, err := c.measure(t, uniform, "", false)
			if err != nil {
				return err
			}
			record(coldName, t.name, round, r)
		}
	}
	for _, t := range all {
		if err := stop(t); err != nil {
			return err
		}
	}
	out, err := c.chQuery("SELECT uniqExact(click_id) FROM firstclaim.clicks")
	if err != nil {
		return fmt.Errorf("counting clicks: %w", err)
	}
	var inCH float64
	fmt.Sscan(out, &inCH)
	return c.report(rows, append(scenarios, scenario{name: missName}, scenario{name: mergeName}, scenario{name: controlName}), rateName, coldName, startup, served, inCH, rate)
}

func (c *config) report(rows []runRow, scenarios []scenario, rateName, coldName string, startup map[string][]float64, served, inCH, rate float64) error {
	var b strings.Builder
	cpu := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	nginxV, _ := exec.Command("nginx", "-v").CombinedOutput()
	wrkV, _ := exec.Command("wrk", "--version").CombinedOutput()
	fmt.Fprintf(&b, "# Redirect path side by side, %s\n\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "Machine: %d cores (%s), %s, %s. %s; %s.\n\n", runtime.NumCPU(), cpu, runtime.Version(), "Debian 12",
		strings.TrimSpace(string(nginxV)), strings.SplitN(strings.TrimSpace(string(wrkV)), " [", 2)[0])
	fmt.Fprintf(&b, "Command: `bench/run --rounds %d --duration %s --warmup %s --conns %d --links %d --clickhouse-core %s --openloop-priority %s`.\n\n",
		c.rounds, c.dur, c.warmup, c.conns, c.links, c.chCore, c.loadPriority)
	prio := ""
	if c.loadPriority == "fifo" {
		prio = "; the open-loop generator at real-time priority (SCHED_FIFO), so that ClickHouse, which shares its core, works in the time it leaves instead of holding back the requests it is due to send"
	}
	fmt.Fprintf(&b, "Servers on core %s (GOMAXPROCS=1 for the Go ones; nginx with one worker), ClickHouse on core %s, "+
		"load on core %s (wrk -t1 -c%d, closed loop; the open-loop generator of bench/sidebyside for the constant rate)%s. "+
		"Each run is preceded by a %s warm-up that is not measured, except the cold starts. Targets alternate within each round. "+
		"firstclaim: %d links, signed cookies on every claim (no claim limit), geography and device enrichment, the ClickHouse sink; "+
		"nginx: the same 302s from a `map`, a cookie of the same length, access log buffered to a file; "+
		"bare fasthttp: the same lookup, 302 and cookie, records nothing. "+
		"ClickHouse's data "+c.chData+". "+
		"ClickHouse's background merges wait while a run is measured (merges under way finish first) and catch up between runs, "+
		"since on this machine a merge takes the load generator's core; its inserts go on, and its CPU is reported. "+
		"One scenario lets the merges run. A control runs nginx with the load core kept as busy as ClickHouse kept it "+
		"during firstclaim's runs (a busy loop in bursts every %s, at normal priority).\n\n", c.serverCore, c.chCore, c.loadCore, c.conns, prio, c.warmup, c.links, burnPeriod)
	med := func(s, t string, f func(result) float64) float64 {
		var xs []float64
		for _, r := range rows {
			if r.scenario == s && r.target == t {
				xs = append(xs, f(r.r))
			}
		}
		return measure.Median(xs)
	}
	targets := []string{"nginx", "bare fasthttp", "firstclaim", "firstclaim, cache 10,000"}
	b.WriteString("## Closed loop (median of the rounds)\n\n")
	b.WriteString("| scenario | target | req/s | p50 µs | p99 µs | p99.9 µs | CPU s / 100k req | ClickHouse CPU s / 100k | peak RSS MiB | errors | vs nginx | vs bare |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range append(scenarios, scenario{name: coldName}) {
		ngRPS, bareRPS := med(s.name, "nginx", result.rps), med(s.name, "bare fasthttp", result.rps)
		for _, t := range targets {
			rps := med(s.name, t, result.rps)
			if rps == 0 {
				continue
			}
			ratio := func(base float64) string {
				if strings.HasPrefix(t, "firstclaim") && base > 0 {
					return fmt.Sprintf("%.2f", rps/base)
				}
				return ""
			}
			chCPU := ""
			if strings.HasPrefix(t, "firstclaim") {
				chCPU = fmt.Sprintf("%.2f", med(s.name, t, func(r result) float64 { return r.chCPUPer100k }))
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %s | %.0f | %.0f | %s | %s |\n", s.name, t, rps,
				med(s.name, t, func(r result) float64 { return r.p50 }), med(s.name, t, func(r result) float64 { return r.p99 }),
				med(s.name, t, func(r result) float64 { return r.p999 }), med(s.name, t, func(r result) float64 { return r.cpuPer100k }), chCPU,
				med(s.name, t, func(r result) float64 { return r.rss }), med(s.name, t, func(r result) float64 { return float64(r.errors) }),
				ratio(ngRPS), ratio(bareRPS))
		}
	}
	if ctl := scenarios[5].name; med(ctl, "nginx", result.rps) > 0 {
		fcRPS, ngCtl := med(scenarios[1].name, "firstclaim", result.rps), med(ctl, "nginx", result.rps)
		fmt.Fprintf(&b, "\nControl (%s): nginx serves %.0f req/s with that part of wrk's core taken, against %.0f without; "+
			"firstclaim's %.0f on the same spread is %.2f of it. The bar is measured against nginx without it (the table above).\n",
			ctl, ngCtl, med(scenarios[1].name, "nginx", result.rps), fcRPS, fcRPS/ngCtl)
	}
	fmt.Fprintf(&b, "\n## Constant rate: %.0f req/s, open loop (median of the rounds)\n\n", rate)
	b.WriteString("Latency from each request's intended send time, so a server that falls behind is charged for its queue.\n\n")
	b.WriteString("Core busy: the share of its core the server used over the run; what is left is its room for a burst of other work before requests queue.\n\n")
	b.WriteString("| target | achieved req/s | p50 µs | p99 µs | p99.9 µs | CPU s / 100k req | core busy | errors | garbage collections in the rounds |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range targets[:3] {
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f%% | %.0f | %s |\n", t, med(rateName, t, result.rps),
			med(rateName, t, func(r result) float64 { return r.p50 }), med(rateName, t, func(r result) float64 { return r.p99 }),
			med(rateName, t, func(r result) float64 { return r.p999 }), med(rateName, t, func(r result) float64 { return r.cpuPer100k }),
			med(rateName, t, func(r result) float64 { return 100 * r.cpuPer100k * r.rps() / 100000 }),
			med(rateName, t, func(r result) float64 { return float64(r.errors) }), roundCollections(rows, rateName, t))
	}
	b.WriteString("\n## Start-up\n\nFrom starting the process to accepting connections (firstclaim loads 100,000 links first), median:\n\n")
	for _, t := range targets[:3] {
		fmt.Fprintf(&b, "- %s: %.0f ms\n", t, measure.Median(startup[t]))
	}
	verdict := "equal: every click served is in ClickHouse"
	if served != inCH {
		verdict = fmt.Sprintf("NOT EQUAL: %.0f missing", served-inCH)
	}
	fmt.Fprintf(&b, "\n## Every click in ClickHouse\n\nfirstclaim answered %.0f requests on /r/ over the whole run (its own counter, every instance, warm-ups included); ClickHouse holds %.0f distinct click ids: %s.\n",
		served, inCH, verdict)
	b.WriteString("\n## Raw runs\n\nGCs: firstclaim's garbage collections during the run (a collection takes a share of the one core for tens of milliseconds, which shows in that run's tail).\n\n" +
		"| scenario | target | round | requests | seconds | req/s | p50 µs | p99 µs | p99.9 µs | CPU s / 100k | peak RSS MiB | errors | GCs |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		gcs := ""
		if r.r.gcs >= 0 {
			gcs = fmt.Sprintf("%.0f", r.r.gcs)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %.2f | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %d | %s |\n", r.scenario, r.target, r.round,
			r.r.requests, r.r.seconds, r.r.rps(), r.r.p50, r.r.p99, r.r.p999, r.r.cpuPer100k, r.r.rss, r.r.errors, gcs)
	}
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	fmt.Print(b.String())
	logf("results in %s", c.out)
	if served != inCH {
		return fmt.Errorf("%.0f clicks served, %.0f in ClickHouse", served, inCH)
	}
	return nil
}

// gcNote is the log's mention of firstclaim's collections during a run.
func gcNote(r result) string {
	if r.gcs < 0 {
		return ""
	}
	return fmt.Sprintf("  GCs %.0f", r.gcs)
}

// roundCollections lists target's collections in each round of scenario ("0, 1, 0"), or "" for a
// target that is not firstclaim.
func roundCollections(rows []runRow, scenario, target string) string {
	var out []string
	for _, r := range rows {
		if r.scenario == scenario && r.target == target && r.r.gcs >= 0 {
			out = append(out, fmt.Sprintf("%.0f", r.r.gcs))
		}
	}
	return strings.Join(out, ", ")
}
