package listener

import (
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// directIO reads and writes a TCP connection's socket with raw system calls, under the runtime's
// poller as usual (a read that would block parks the goroutine until the socket is ready, and
// closing the connection or a deadline ends the wait).
//
// Go's own Read and Write tell the scheduler they are entering a system call, in case it blocks.
// The socket is non-blocking, so it never does; but the bookkeeping is not free on a server with
// one core: whenever the server has been idle for a moment, the runtime's monitor thread sleeps,
// and the next system call wakes it (a futex, a switch to that thread on the same core, its own
// sleep and yield, a switch back). At a fixed 45,734 requests a second on one core (the benchmark's
// constant rate) that was 4,000 futex calls and 3,600 sleeps a second and a quarter more context
// switches than nginx; reading and writing directly took the server's core from 84–90% busy to
// 75–77% (bench/results/2026-11-24-redirect.md). Under full load the monitor does not sleep and the
// two are level.
//
// A read that follows a response first lets the other runnable goroutines go (runtime.Gosched).
// A client that keeps its connection alive sends its next request only after it has the response,
// so a read made at once finds nothing and costs a system call for EAGAIN, a park, and a wake
// from the poller when the request comes; nginx does not make that read (it knows its last read
// emptied the socket, and waits for the poller). Under load, by the time the other connections'
// requests have been handled the next request is usually there, and the read takes it without
// waiting. Under light load there is no one to yield to and the yield costs a trip through the
// scheduler. The runtime polls the network only when its run queues are empty, so a connection
// that keeps yielding would keep the queue full and the connections that are waiting for the
// poller unserved: a connection yields at most yieldsPerPoll times between two reads, on any
// connection, that waited for the poller (see pollRound). Only a server with one P yields, the
// case measured (as the sink's worker pauses only then): with more, an idle P polls the network
// anyway, and every yield would put the goroutine on the global run queue under the scheduler's
// lock, which all cores share, and let another P take it.
type directIO struct {
	rc   syscall.RawConn
	conn net.Conn // for the addresses in an error

	rmu    sync.Mutex // one Read at a time: r* are its state
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	rfunc  func(uintptr) bool
	rcall  int    // calls of rfunc in this Read: more than one means it waited for the poller
	round  uint64 // pollRound when yields was last reset
	yields int    // yields since then
	oneP   bool   // GOMAXPROCS was 1 when the connection came: reads after a response yield

	answered atomic.Bool // something was written since the last Read

	wmu   sync.Mutex // one Write at a time: w* are its state
	wbuf  []byte
	wn    int
	werr  syscall.Errno
	wfunc func(uintptr) bool
}

// yieldsPerPoll bounds how many reads of a connection yield between two wakes from the poller.
// Each yield lets every runnable connection answer once more before the poller is asked again,
// so the bound is also how many turns a connection waiting for the poller can be kept waiting.
// With 64 busy connections on one core (bench/results/2026-11-25-redirect.md), the reads per
// request and the closed-loop p99: without yielding 2.0 (one of them failed) and 4.5–4.9 ms; with
// no bound 1.08 and 11–34 ms; with 4, 1.22 and 5.3–6.1 ms; with 8, 6.5–6.8 ms.
const yieldsPerPoll = 4

// yield is runtime.Gosched; tests count the calls.
var yield = runtime.Gosched

// pollRound counts the reads, on any connection, that waited for the poller: when it moves, the
// poller has run since a connection last yielded.
var pollRound atomic.Uint64

// newDirectIO returns direct I/O for c, or nil when c is not a TCP connection.
func newDirectIO(c net.Conn) *directIO {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	d := &directIO{rc: rc, conn: c, oneP: runtime.GOMAXPROCS(0) == 1}
	d.rfunc, d.wfunc = d.read, d.write // made once: a method value per call would allocate
	return d
}

// read is one read(2) of the socket; false asks the poller to wait until it is readable.
func (d *directIO) read(fd uintptr) bool {
	d.rcall++
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(d.rbuf))), uintptr(len(d.rbuf)))
		switch e {
		case 0:
			d.rn = int(n)
			return true
		case syscall.EAGAIN:
			return false
		case syscall.EINTR:
			continue
		}
		d.rerr = e
		return true
	}
}

// write writes what is left of wbuf; false asks the poller to wait until the socket is writable.
func (d *directIO) write(fd uintptr) bool {
	for len(d.wbuf) > 0 {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(d.wbuf))), uintptr(len(d.wbuf)))
		switch e {
		case 0:
			d.wn += int(n)
			d.wbuf = d.wbuf[n:]
			continue
		case syscall.EAGAIN:
			return false
		case syscall.EINTR:
			continue
		}
		d.werr = e
		return true
	}
	return true
}

// Read is net.Conn's Read: some bytes, io.EOF once the peer has closed its side, or an error.
func (d *directIO) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	d.rmu.Lock()
	defer d.rmu.Unlock()
	if d.oneP && d.answered.Swap(false) {
		if r := pollRound.Load(); r != d.round {
			d.round, d.yields = r, 0
		}
		if d.yields < yieldsPerPoll {
			d.yields++
			yield()
		}
	}
	d.rbuf, d.rn, d.rerr, d.rcall = p, 0, 0, 0
	err := d.rc.Read(d.rfunc)
	d.rbuf = nil
	if d.rcall > 1 {
		pollRound.Add(1)
	}
	switch {
	case err != nil:
		return 0, err
	case d.rerr != 0:
		return 0, d.opError("read", d.rerr)
	case d.rn == 0:
		return 0, io.EOF
	}
	return d.rn, nil
}

// Write is net.Conn's Write: all of p, or how much was written and an error.
func (d *directIO) Write(p []byte) (int, error) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	d.wbuf, d.wn, d.werr = p, 0, 0
	err := d.rc.Write(d.wfunc)
	d.wbuf = nil
	d.answered.Store(true)
	if err == nil && d.werr != 0 {
		err = d.opError("write", d.werr)
	}
	return d.wn, err
}

// opError is the error the net package returns for a failed system call.
func (d *directIO) opError(op string, e syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: d.conn.LocalAddr(), Addr: d.conn.RemoteAddr(), Err: os.NewSyscallError(op, e)}
}
