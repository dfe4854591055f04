package listener

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// serveLimited runs a fasthttp server that answers 204 under limits of request and idle, swept
// every 20 ms, and returns its address and metrics.
func serveLimited(t *testing.T, request, idle time.Duration) (string, *metrics.Set) {
	t.Helper()
	set := metrics.NewSet()
	l := NewConnLimits(request, idle, 20*time.Millisecond, set)
	ctx, cancel := context.WithCancel(context.Background())
	go l.Run(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{
		Handler:   func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(http.StatusNoContent) },
		ConnState: l.ConnState,
	}
	go srv.Serve(l.Listener(ln))
	t.Cleanup(func() { cancel(); srv.Shutdown() })
	return ln.Addr().String(), set
}

// closedWithin reports whether the server closes c within d (a read returns EOF or a reset).
func closedWithin(t *testing.T, c net.Conn, d time.Duration) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.ReadAll(c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func get(t *testing.T, c net.Conn, br *bufio.Reader) {
	t.Helper()
	if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// A client that sends its headers slowly, or never sends a byte, loses the connection after the
// request limit.
func TestConnLimitsCloseSlowRequests(t *testing.T) {
	addr, set := serveLimited(t, 200*time.Millisecond, 5*time.Second)
	slow, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	io.WriteString(slow, "GET /x HTTP/1.1\r\nHost: a\r\n") // and never the blank line
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for name, c := range map[string]net.Conn{"half a request": slow, "not a byte": silent} {
		if !closedWithin(t, c, 3*time.Second) {
			t.Errorf("%s: still open 3 s after a 200 ms request limit", name)
		}
	}
	var out strings.Builder
	set.WritePrometheus(&out)
	if !strings.Contains(out.String(), `firstclaim_connections_timed_out_total{state="request"} 2`) {
		t.Errorf("metrics:\n%s", out.String())
	}
}

// A kept-alive connection may wait longer than the request limit for its next request, and is
// closed after the idle limit.
func TestConnLimitsIdle(t *testing.T) {
	addr, set := serveLimited(t, 100*time.Millisecond, 1500*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get(t, c, br)
	time.Sleep(500 * time.Millisecond) // five request limits, a third of the idle one
	get(t, c, br)
	if !closedWithin(t, c, 5*time.Second) {
		t.Fatal("idle connection still open 5 s after a 1.5 s idle limit")
	}
	var out strings.Builder
	set.WritePrometheus(&out)
	if !strings.Contains(out.String(), `firstclaim_connections_timed_out_total{state="idle"} 1`) ||
		!strings.Contains(out.String(), `firstclaim_connections_timed_out_total{state="request"} 0`) {
		t.Errorf("metrics:\n%s", out.String())
	}
}
