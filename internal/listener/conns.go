package listener

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// ConnLimits holds the public listener's connections to time limits with a sweep every tick,
// instead of socket deadlines. With its own timeouts on, fasthttp sets a read deadline twice and
// a write deadline once for every request; each is a change to the runtime's timers and a clock
// read, and together they cost about a microsecond a request (8% of the redirector's CPU under
// load, bench/results/2026-11-24-redirect.md). Here a request costs two atomic stores, and a limit
// holds to within one tick.
//
// Use Listener around the listener, ConnState as the server's ConnState hook, and Run.
type ConnLimits struct {
	request, idle, tick time.Duration // see NewConnLimits

	clock    atomic.Int64 // Unix nanoseconds, as of the last sweep
	mu       sync.Mutex
	conns    map[*limitedConn]struct{}
	timedOut [2]*metrics.Counter // request, idle
}

// NewConnLimits returns limits checked every tick. request bounds a request from its first byte
// to the end of its response, and a new connection's wait for its first byte: a client that sends
// its headers slowly, or does not read the response, loses the connection. idle bounds a
// kept-alive connection's wait for its next request. set may be nil.
func NewConnLimits(request, idle, tick time.Duration, set *metrics.Set) *ConnLimits {
	if set == nil {
		set = metrics.NewSet()
	}
	l := &ConnLimits{request: request, idle: idle, tick: tick, conns: map[*limitedConn]struct{}{}}
	l.clock.Store(time.Now().UnixNano())
	l.timedOut[0] = set.NewCounter(`firstclaim_connections_timed_out_total{state="request"}`)
	l.timedOut[1] = set.NewCounter(`firstclaim_connections_timed_out_total{state="idle"}`)
	return l
}

type limitedConn struct {
	net.Conn
	l      *ConnLimits
	idle   atomic.Bool  // waiting for the next request
	since  atomic.Int64 // the sweep clock when the current state began
	exempt atomic.Bool  // hijacked: no longer the server's
	once   sync.Once
	direct *directIO // nil: through the net package
}

func (c *limitedConn) Read(p []byte) (int, error) {
	if c.direct != nil {
		return c.direct.Read(p)
	}
	return c.Conn.Read(p)
}

func (c *limitedConn) Write(p []byte) (int, error) {
	if c.direct != nil {
		return c.direct.Write(p)
	}
	return c.Conn.Write(p)
}

func (c *limitedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

type limitedListener struct {
	net.Listener
	l *ConnLimits
}

func (ln limitedListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	lc := &limitedConn{Conn: c, l: ln.l, direct: newDirectIO(c)}
	lc.since.Store(ln.l.clock.Load())
	ln.l.mu.Lock()
	ln.l.conns[lc] = struct{}{}
	ln.l.mu.Unlock()
	return lc, nil
}

// Listener returns ln with its connections under the limits. On Linux their sockets are read and
// written directly (see directIO).
func (l *ConnLimits) Listener(ln net.Listener) net.Listener { return limitedListener{ln, l} }

// ConnState follows a connection from request to request; set it as fasthttp.Server.ConnState.
func (l *ConnLimits) ConnState(nc net.Conn, s fasthttp.ConnState) {
	c, ok := nc.(*limitedConn)
	if !ok {
		return
	}
	switch s {
	case fasthttp.StateActive:
		c.idle.Store(false)
		c.since.Store(l.clock.Load())
	case fasthttp.StateIdle:
		c.idle.Store(true)
		c.since.Store(l.clock.Load())
	case fasthttp.StateHijacked:
		c.exempt.Store(true)
	}
}

// Run sweeps until ctx ends, closing the connections past their limit.
func (l *ConnLimits) Run(ctx context.Context) {
	t := time.NewTicker(l.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			l.sweep(now)
		}
	}
}

func (l *ConnLimits) sweep(now time.Time) {
	n := now.UnixNano()
	l.clock.Store(n)
	type lateConn struct {
		c     *limitedConn
		since int64
		idle  bool
	}
	var late []lateConn
	l.mu.Lock()
	for c := range l.conns {
		if c.exempt.Load() {
			continue
		}
		limit, isIdle, since := l.request, c.idle.Load(), c.since.Load()
		if isIdle {
			limit = l.idle
		}
		if time.Duration(n-since) > limit {
			late = append(late, lateConn{c, since, isIdle})
		}
	}
	l.mu.Unlock()
	for _, x := range late {
		if x.c.since.Load() != x.since {
			continue // a request began meanwhile
		}
		if x.idle {
			l.timedOut[1].Inc()
		} else {
			l.timedOut[0].Inc()
		}
		x.c.Close()
	}
}
