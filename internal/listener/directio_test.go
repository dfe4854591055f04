package listener

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// acceptedPair returns the two ends of a loopback TCP connection: the server's, as the limited
// listener hands it to the server, and the client's.
func acceptedPair(t *testing.T) (*limitedConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lln := NewConnLimits(time.Minute, time.Minute, time.Minute, nil).Listener(ln)
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := lln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); sc.Close() })
	c := sc.(*limitedConn)
	if runtime.GOOS == "linux" && c.direct == nil {
		t.Fatal("a TCP connection on Linux is not read and written directly")
	}
	return c, client
}

// A write larger than the socket's buffers waits for the peer to read and writes all of it; reads
// return what was sent and io.EOF once the peer has closed.
func TestDirectIOLargeWritesAndEOF(t *testing.T) {
	server, client := acceptedPair(t)
	want := make([]byte, 32<<20)
	for i := range want {
		want[i] = byte(i*7 + i>>13)
	}
	got := make(chan []byte)
	go func() {
		time.Sleep(100 * time.Millisecond) // let the buffers fill: the write has to wait
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(want))))
		got <- b
		client.Write([]byte("bye"))
		client.Close()
	}()
	n, err := server.Write(want)
	if n != len(want) || err != nil {
		t.Fatalf("Write: %d of %d bytes, %v", n, len(want), err)
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the client read %d bytes, not the %d written, or not the same", len(b), len(want))
	}
	rest, err := io.ReadAll(server)
	if err != nil || string(rest) != "bye" {
		t.Fatalf("after the peer closed: read %q, %v; want \"bye\" and EOF", rest, err)
	}
	if n, err := server.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF: %d, %v", n, err)
	}
}

// A read waiting for data ends when the connection is closed, or at its deadline.
func TestDirectIOCloseAndDeadline(t *testing.T) {
	server, _ := acceptedPair(t)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, err := server.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past its deadline: %v, want a timeout", err)
	}
	server.SetReadDeadline(time.Time{})
	done := make(chan error)
	go func() {
		_, err := server.Read(make([]byte, 8))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	server.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read on a closed connection: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Read still waiting 5 s after Close")
	}
}

// A peer that resets the connection makes reads and writes fail as the net package's would: an
// *net.OpError carrying the system's error.
func TestDirectIOReset(t *testing.T) {
	server, client := acceptedPair(t)
	client.(*net.TCPConn).SetLinger(0) // close with a reset
	client.Close()
	time.Sleep(50 * time.Millisecond)
	var err error
	for i := 0; i < 100 && err == nil; i++ { // the first write may still be accepted
		_, err = server.Write([]byte("HTTP/1.1 204 No Content\r\n\r\n"))
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "write" || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		t.Fatalf("Write to a reset connection: %v", err)
	}
	if op.Addr == nil || op.Addr.String() != client.LocalAddr().String() {
		t.Errorf("error names %v, not the peer %v", op.Addr, client.LocalAddr())
	}
	server2, client2 := acceptedPair(t)
	client2.Write([]byte("GET"))
	client2.(*net.TCPConn).SetLinger(0)
	client2.Close()
	time.Sleep(50 * time.Millisecond)
	_, err = io.ReadAll(server2)
	if !errors.As(err, &op) || op.Op != "read" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read from a reset connection: %v", err)
	}
}

// Reading and writing a warm connection allocates nothing.
func TestDirectIOAllocatesNothing(t *testing.T) {
	server, client := acceptedPair(t)
	req, resp := []byte("GET /r/l000001 HTTP/1.1\r\nHost: a\r\n\r\n"), []byte("HTTP/1.1 302 Found\r\n\r\n")
	buf := make([]byte, 4096)
	allocs := testing.AllocsPerRun(200, func() {
		client.Write(req)
		if n, err := server.Read(buf); err != nil || n == 0 {
			t.Fatalf("Read: %d, %v", n, err)
		}
		if _, err := server.Write(resp); err != nil {
			t.Fatal(err)
		}
		io.ReadFull(client, buf[:len(resp)])
	})
	if allocs > 0 {
		t.Fatalf("%.1f allocations per request and response", allocs)
	}
}
