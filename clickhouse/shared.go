package clickhouse

import (
	"context"
	"sync"
	"time"
)

// sharedReads lets the queries of one report (a report asks for its sources' groups and totals at
// once, up to eight queries) share the small reads each of them needs first: which days are rolled
// up, which hours were replayed. The first caller of a key reads; callers arriving while it reads
// wait for its answer instead of sending the same query. An answer is reused for fresh after it
// arrived (0: only by the callers that waited for it). An error is not shared: a caller that
// waited for a read that failed reads on its own.
type sharedReads[T any] struct {
	mu    sync.Mutex
	calls map[string]*sharedCall[T]
}

type sharedCall[T any] struct {
	done chan struct{}
	val  T
	err  error
	at   time.Time // when the answer arrived
}

func (s *sharedReads[T]) do(ctx context.Context, key string, fresh time.Duration, read func(context.Context) (T, error)) (T, error) {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]*sharedCall[T]{}
	}
	c, ok := s.calls[key]
	if ok {
		select {
		case <-c.done:
			if c.err != nil || time.Since(c.at) > fresh {
				ok = false
			}
		default:
		}
	}
	if !ok {
		c = &sharedCall[T]{done: make(chan struct{})}
		s.calls[key] = c
		s.mu.Unlock()
		c.val, c.err = read(ctx)
		s.mu.Lock()
		c.at = time.Now()
		close(c.done)
		if fresh <= 0 || c.err != nil {
			// Nothing reuses it after the waiters: forget it (the map stays small).
			if s.calls[key] == c {
				delete(s.calls, key)
			}
		}
		s.mu.Unlock()
		return c.val, c.err
	}
	s.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	if c.err != nil {
		return read(ctx)
	}
	return c.val, nil
}
