package clickhouse

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Callers arriving while a read is under way wait for it and get its answer (or, arriving just
// after, reuse it while it is fresh); with fresh 0, a caller arriving after it reads again.
func TestSharedReadsShareOneRead(t *testing.T) {
	var s sharedReads[int]
	var reads atomic.Int32
	release := make(chan struct{})
	read := func(context.Context) (int, error) {
		n := reads.Add(1)
		<-release
		return int(n), nil
	}
	const callers = 8
	got := make([]int, callers)
	var wg sync.WaitGroup
	started := make(chan struct{}, callers)
	for i := range callers {
		wg.Go(func() {
			started <- struct{}{}
			v, err := s.do(context.Background(), "k", time.Minute, read)
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	for range callers {
		<-started
	}
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d callers at once read %d times, want once", callers, n)
	}
	for i, v := range got {
		if v != 1 {
			t.Fatalf("caller %d got %d, want the shared answer 1", i, v)
		}
	}
	// fresh 0: each caller after a read reads again, and nothing is kept.
	for want := 2; want <= 3; want++ {
		if v, _ := s.do(context.Background(), "z", 0, read); v != want {
			t.Fatalf("a later caller got %d, want a read of its own (%d)", v, want)
		}
	}
	if _, kept := s.calls["z"]; kept || len(s.calls) != 1 {
		t.Fatalf("answers not meant for reuse are kept: %v", s.calls)
	}
}

func TestSharedReadsReuseWhileFresh(t *testing.T) {
	var s sharedReads[int]
	var reads atomic.Int32
	read := func(context.Context) (int, error) { return int(reads.Add(1)), nil }
	a, _ := s.do(context.Background(), "", 50*time.Millisecond, read)
	b, _ := s.do(context.Background(), "", 50*time.Millisecond, read)
	if a != 1 || b != 1 {
		t.Fatalf("within fresh: got %d then %d, want the first answer twice", a, b)
	}
	time.Sleep(60 * time.Millisecond)
	if c, _ := s.do(context.Background(), "", 50*time.Millisecond, read); c != 2 {
		t.Fatalf("after fresh: got %d, want a new read (2)", c)
	}
}

// A failed read is not handed to the callers that waited for it (each reads on its own) and is not
// reused.
func TestSharedReadsDoNotShareErrors(t *testing.T) {
	var s sharedReads[int]
	var reads atomic.Int32
	release := make(chan struct{})
	boom := errors.New("server gone")
	first := func(context.Context) (int, error) {
		reads.Add(1)
		<-release
		return 0, boom
	}
	again := func(context.Context) (int, error) { return int(reads.Add(1)), nil }
	errc := make(chan error, 1)
	go func() {
		_, err := s.do(context.Background(), "k", time.Minute, first)
		errc <- err
	}()
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waited := make(chan int, 1)
	go func() {
		v, err := s.do(context.Background(), "k", time.Minute, again)
		if err != nil {
			t.Error(err)
		}
		waited <- v
	}()
	time.Sleep(20 * time.Millisecond)
	close(release)
	if err := <-errc; !errors.Is(err, boom) {
		t.Fatalf("the reader got %v, want its own error", err)
	}
	if v := <-waited; v != 2 {
		t.Fatalf("the waiter got %d, want an answer of its own read (2)", v)
	}
	if v, err := s.do(context.Background(), "k", time.Minute, again); err != nil || v != 3 {
		t.Fatalf("after a failure: got %d, %v; want a new read (3)", v, err)
	}
}

// A waiter whose context ends stops waiting.
func TestSharedReadsWaiterCancelled(t *testing.T) {
	var s sharedReads[int]
	release := make(chan struct{})
	defer close(release)
	var reads atomic.Int32
	go s.do(context.Background(), "k", 0, func(context.Context) (int, error) { reads.Add(1); <-release; return 1, nil })
	for reads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.do(ctx, "k", 0, func(context.Context) (int, error) { return 2, nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled waiter got %v, want its context's error", err)
	}
}
