package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "firstclaim.conf")
	os.WriteFile(cfg, []byte("# comment\nlisten = :1111\nadmin-listen = \"127.0.0.1:2222\"\nlinks = from-file.csv\nbatch-size = 7\n"), 0o644)
	env := map[string]string{"FIRSTCLAIM_ADMIN_LISTEN": "127.0.0.1:3333", "FIRSTCLAIM_LINKS": "from-env.csv"}
	c := &serveCmd{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.flags(fs)
	err := parseConfig(fs, []string{"--config", cfg, "--links", "from-flag.csv"}, func(k string) string { return env[k] }, false)
	if err != nil {
		t.Fatal(err)
	}
	if c.listen != ":1111" || c.adminListen != "127.0.0.1:3333" || c.links != "from-flag.csv" || c.batchSize != 7 || c.dataDir != "firstclaim-data" {
		t.Fatalf("file < env < flag not applied: %+v", c)
	}
	// A config file naming a setting the command does not have is an error.
	os.WriteFile(cfg, []byte("listen = :1\nlisten-port = 2\n"), 0o644)
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	(&serveCmd{}).flags(fs)
	if err := parseConfig(fs, []string{"--config", cfg}, func(string) string { return "" }, false); err == nil || !strings.Contains(err.Error(), `unknown setting "listen-port"`) {
		t.Fatalf("err = %v", err)
	}
	fs = flag.NewFlagSet("serve", flag.ContinueOnError)
	(&serveCmd{}).flags(fs)
	if err := parseConfig(fs, nil, func(k string) string { return map[string]string{"FIRSTCLAIM_BATCH_SIZE": "many"}[k] }, false); err == nil || !strings.Contains(err.Error(), "FIRSTCLAIM_BATCH_SIZE") {
		t.Fatalf("bad env value: err = %v", err)
	}
}

const testSecret = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// startServe runs "firstclaim serve" in-process on free ports and returns its addresses and a
// stop function that acts like SIGTERM and returns the exit code.
func startServe(t *testing.T, args ...string) (public, admin string, logs *chtest.SyncBuffer, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs = &chtest.SyncBuffer{}
	env := &environment{stdout: io.Discard, stderr: logs, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	ready := make(chan [2]string, 1)
	commands["serve-test"] = commandInfo{new: func() command {
		return &serveCmd{ready: func(p, a net.Addr) { ready <- [2]string{p.String(), a.String()} }}
	}}
	t.Cleanup(func() { delete(commands, "serve-test") })
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"serve-test", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cookie-keys", testSecret}, args...), env)
	}()
	select {
	case a := <-ready:
		public, admin = "http://"+a[0], "http://"+a[1]
	case c := <-code:
		t.Fatalf("serve exited with %d:\n%s", c, logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("serve did not start:\n%s", logs)
	}
	var once sync.Once
	var exit int
	stop = func() int {
		once.Do(func() { cancel(); exit = <-code })
		return exit
	}
	t.Cleanup(func() { stop() })
	return public, admin, logs, stop
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 5 * time.Second}

func TestServeRecordsEveryClickAndFlushesOnShutdown(t *testing.T) {
	dir := t.TempDir()
	links := filepath.Join(dir, "links.csv")
	os.WriteFile(links, []byte("code,url,partner,program,campaign\nsummer,https://shop.example.com/,partner-a,affiliate,summer\n"), 0o644)
	clicks := filepath.Join(dir, "clicks.ndjson")
	public, admin, logs, stop := startServe(t, "--links", links, "--clicks", clicks, "--data-dir", filepath.Join(dir, "data"),
		"--admin-token", "secret-token-0123456", "--flush-interval", "1h", "--claim-limit", "0")

	const n = 300
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/6; i++ {
				req, _ := http.NewRequest("GET", public+"/r/summer", nil)
				req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36")
				resp, err := noFollow.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 302 {
					t.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()

	// Admin: health open, metrics behind the token.
	if resp, err := http.Get(admin + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if resp, _ := http.Get(admin + "/metrics"); resp.StatusCode != 401 {
		t.Fatalf("metrics without a token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer secret-token-0123456")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		fmt.Sprintf(`firstclaim_requests_total{outcome="claimed"} %d`, n),
		"go_gc_duration_seconds", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
		// Typed for Prometheus: a histogram is read as one.
		"# TYPE firstclaim_redirect_duration_seconds histogram", "# TYPE firstclaim_requests_total counter",
		"# TYPE firstclaim_sink_queue_bytes gauge",
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %s:\n%s", want, body)
		}
	}

	// The flush interval is an hour: only shutdown can have written the records.
	if code := stop(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, logs)
	}
	f, err := os.Open(clicks)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var c struct {
			ClickID string `json:"click_id"`
			Outcome string `json:"outcome"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Outcome != "claimed" || c.ClickID == "" {
			t.Fatalf("line %s", sc.Bytes())
		}
		ids[c.ClickID] = true
	}
	if len(ids) != n {
		t.Fatalf("%d distinct click ids in the NDJSON file, want %d", len(ids), n)
	}
	if strings.Contains(logs.String(), "00112233445566778899") {
		t.Fatal("the cookie secret appears in the logs")
	}
}

func TestServeRefusesBadSetup(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "links.csv")
	os.WriteFile(good, []byte("code,url,partner,program\na,https://a.example/,p,affiliate\n"), 0o644)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("code,url,partner,program\na,javascript:alert(1),p,affiliate\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--links", good}, "--cookie-keys: no cookie keys"},
		{[]string{"--links", good, "--cookie-keys", "k1:short"}, "secret is 5 bytes"},
		{[]string{"--links", bad, "--cookie-keys", testSecret}, "bad.csv:2: url: URL scheme \"javascript\""},
		{[]string{"--links", good, "--cookie-keys", testSecret, "--cookie-domain", "a;b"}, "is not a host name"},
		{[]string{"--links", good, "--cookie-keys", testSecret, "--trusted-proxies", "10.0.0.0/99"}, "--trusted-proxies"},
		{[]string{"--links", good, "--cookie-keys", testSecret, "--idle-timeout", "0s"}, "both must be positive"},
	} {
		var stderr bytes.Buffer
		env := &environment{stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }}
		args := append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "d"), "--clicks", filepath.Join(dir, "c.ndjson")}, tc.args...)
		if code := run(context.Background(), args, env); code != 1 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// serve sets the collector's target from --gc-percent unless GOGC is in the environment.
func TestServeSetsTheCollectorTarget(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	dir := t.TempDir()
	links := filepath.Join(dir, "links.csv")
	os.WriteFile(links, []byte("code,url,partner,program\nsummer,https://shop.example.com/,partner-a,affiliate\n"), 0o644)
	_, _, _, stop := startServe(t, "--links", links, "--clicks", filepath.Join(dir, "clicks.ndjson"),
		"--data-dir", filepath.Join(dir, "data"), "--gc-percent", "250")
	stop()
	if got := debug.SetGCPercent(100); got != 250 {
		t.Fatalf("GC percent after serve --gc-percent 250: %d", got)
	}
	gcTarget(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}, 400)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GC percent with GOGC in the environment: %d, want it left alone", got)
	}
}
