package listener

import (
	"io"
	"runtime"
	"testing"
	"time"
)

// With one P, after a response, a read first lets the runnable goroutines go, yieldsPerPoll times
// at most until a read waits for the poller again, which renews the allowance. With more than one
// P, reads do not yield.
func TestDirectIOYieldsAfterAnswering(t *testing.T) {
	var yields int
	yield = func() { yields++; runtime.Gosched() }
	procs := runtime.GOMAXPROCS(2)
	t.Cleanup(func() { yield = runtime.Gosched; runtime.GOMAXPROCS(procs) })
	req, resp := []byte("GET /r/l000001 HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 302 Found\r\n\r\n")
	buf := make([]byte, 4096)

	// A connection accepted with two Ps: an answer and the next request, read without a yield.
	multi, mclient := acceptedPair(t)
	if _, err := multi.Write(resp); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(mclient, buf[:len(resp)]); err != nil {
		t.Fatal(err)
	}
	if _, err := mclient.Write(req); err != nil {
		t.Fatal(err)
	}
	if _, err := multi.Read(buf); err != nil {
		t.Fatal(err)
	}
	if yields != 0 {
		t.Fatalf("a read after a response yielded %d times with two Ps", yields)
	}

	runtime.GOMAXPROCS(1)
	server, client := acceptedPair(t)

	// waitForPoller reads a request that comes only after the read has started, so it waits.
	waitForPoller := func() {
		t.Helper()
		go func() {
			time.Sleep(20 * time.Millisecond)
			client.Write(req)
		}()
		before := pollRound.Load()
		if _, err := server.Read(buf); err != nil {
			t.Fatal(err)
		}
		if pollRound.Load() == before {
			t.Fatal("a read that waited for the poller did not count it")
		}
	}
	// exchange answers, has the next request already in the socket, reads it, and reports
	// whether the read yielded first.
	exchange := func(answer bool) bool {
		t.Helper()
		if answer {
			if _, err := server.Write(resp); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(client, buf[:len(resp)]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := client.Write(req); err != nil { // on loopback it is in the server's socket on return
			t.Fatal(err)
		}
		before := yields
		if n, err := server.Read(buf); err != nil || n != len(req) {
			t.Fatalf("Read: %d bytes, %v; want the request's %d", n, err, len(req))
		}
		return yields > before
	}

	waitForPoller()
	if exchange(false) {
		t.Fatal("a read with no response before it yielded")
	}
	for i := range yieldsPerPoll {
		if !exchange(true) {
			t.Fatalf("read %d after a response did not yield (allowance %d)", i+1, yieldsPerPoll)
		}
	}
	if exchange(true) {
		t.Fatalf("read %d after a response yielded: the allowance is %d between waits for the poller", yieldsPerPoll+1, yieldsPerPoll)
	}
	waitForPoller()
	if !exchange(true) {
		t.Fatal("a read that waited for the poller did not renew the allowance")
	}
}
