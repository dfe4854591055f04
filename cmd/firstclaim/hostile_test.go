package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

// serveNDJSON starts serve without ClickHouse, with one link, and returns its addresses and logs.
func serveNDJSON(t *testing.T, extra ...string) (public, admin string, logs *chtest.SyncBuffer, stop func() int) {
	t.Helper()
	dir := t.TempDir()
	links := filepath.Join(dir, "links.csv")
	os.WriteFile(links, []byte("code,url,partner,program,campaign\nsummer,https://shop.example.com/,partner-a,affiliate,summer\n"), 0o644)
	args := append([]string{"--links", links, "--clicks", filepath.Join(dir, "clicks.ndjson"), "--data-dir", filepath.Join(dir, "data"),
		"--admin-token", "admin-token-0123456789"}, extra...)
	return startServe(t, args...)
}

// Merchants' domains carry big cookies: a link redirects with 16 KiB of headers; past the limit a
// request gets 431 and no redirect.
func TestBigHeadersRedirect(t *testing.T) {
	public, _, _, _ := serveNDJSON(t)
	get := func(cookieBytes int) int {
		req, _ := http.NewRequest("GET", public+"/r/summer", nil)
		req.Header.Set("Cookie", "big="+strings.Repeat("x", cookieBytes))
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(16 << 10); code != 302 {
		t.Fatalf("16 KiB of cookies: %d, want 302", code)
	}
	if code := get(64 << 10); code != 431 {
		t.Fatalf("64 KiB of cookies: %d, want 431", code)
	}
}

// Tokens and secrets shorter than 16 bytes are refused at start, naming the flag.
func TestShortTokensRefused(t *testing.T) {
	for _, flag := range []string{"--admin-token", "--association-token", "--pixel-secret"} {
		var stderr bytes.Buffer
		env := &environment{stdout: io.Discard, stderr: &stderr, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
		code := run(t.Context(), []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--cookie-keys", testSecret,
			"--links", linksFile(t), "--clicks", filepath.Join(t.TempDir(), "c"), flag, "short-token"}, env)
		if code == 0 || !strings.Contains(stderr.String(), flag+" is 11 bytes; use at least 16") {
			t.Errorf("%s short-token: exit %d, %s", flag, code, stderr.String())
		}
	}
}

// The admin listener does not keep a connection that sends nothing, or sends its headers a byte at
// a time: it has read, write and idle timeouts.
func TestAdminListenerHasTimeouts(t *testing.T) {
	c := &serveCmd{reportTimeout: time.Minute}
	srv := c.adminServer(http.NewServeMux(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= c.reportTimeout || srv.IdleTimeout <= 0 {
		t.Fatalf("admin server timeouts: header %v read %v write %v idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	// And a connection that never finishes its headers is closed.
	srv.ReadHeaderTimeout = 200 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and nothing more
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil && !strings.Contains(err.Error(), "EOF") {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the admin listener kept a connection that never finished its headers")
		}
	}
}

// Lines about malformed requests never carry credentials, and a flood of them is held back.
func TestRequestErrorLinesRedactedAndLimited(t *testing.T) {
	var out bytes.Buffer
	l := newRedactingLogger(slog.New(slog.NewTextHandler(&out, nil)), time.Hour)
	l.Printf("error when serving connection %q<->%q: %v", "1.2.3.4:80", "5.6.7.8:999",
		"cannot parse \"GET /px/assoc.gif?account=a&sig=deadbeef00&kind=login HTTP/1.1\\r\\nAuthorization: Bearer s3cr3t-admin-token\\r\\nCookie: fc_affiliate=k1.payload.mac; session=abc\\r\\n\"")
	for i := 0; i < 1000; i++ {
		l.Printf("bad request %d with Cookie: fc_affiliate=k1.x.y", i)
	}
	text := out.String()
	for _, secret := range []string{"deadbeef00", "s3cr3t-admin-token", "k1.payload.mac", "session=abc", "k1.x.y"} {
		if strings.Contains(text, secret) {
			t.Errorf("the log holds %q:\n%s", secret, text)
		}
	}
	if n := strings.Count(text, "\n"); n != 1 {
		t.Fatalf("%d lines logged for 1,001 within the interval, want 1", n)
	}
	// The next line after the interval says how many were held back.
	l.every = 0
	l.Printf("another")
	if !strings.Contains(out.String(), "similar_lines_held_back=1000") {
		t.Fatalf("held-back lines not counted:\n%s", out.String())
	}
}

// Start-up does not wait for a ClickHouse that accepts connections and never answers: the server
// is up before the probe gives up on it.
func TestStartDoesNotWaitForAHungClickHouse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	dsn := "clickhouse://" + ln.Addr().String() + "/firstclaim"
	_, _, logs, _ := serveNDJSON(t, "--clickhouse", dsn)
	if strings.Contains(logs.String(), "does not answer") {
		t.Fatalf("start-up waited for the probe:\n%s", logs)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(logs.String(), "ClickHouse does not answer") }) {
		t.Fatalf("the probe never reported the hung server:\n%s", logs)
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "64KiB": 64 << 10, "1000": 1000, "0": 0} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("%q: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1GB", "-1", "lots", "99999999999GiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
