package sink

import (
	"encoding/binary"
	"sync"
)

// queue is the in-memory buffer between the request path and the collector: records are appended
// to one byte slice as [u32 length][record] frames under a mutex held only for the copy. The
// collector swaps the slice out whole. Once both slices have grown to their working size, a push
// allocates nothing.
type queue struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	max   int // bytes
	wakeN int // wake the collector when this many records are queued
	wake  chan struct{}
}

func newQueue(maxBytes, wakeN int) *queue {
	return &queue{
		buf:   make([]byte, 0, min(maxBytes, 1<<20)),
		max:   maxBytes,
		wakeN: wakeN,
		wake:  make(chan struct{}, 1),
	}
}

// push appends rec and reports whether it fit.
func (q *queue) push(rec []byte) bool {
	q.mu.Lock()
	if len(q.buf)+4+len(rec) > q.max {
		q.mu.Unlock()
		return false
	}
	q.buf = binary.LittleEndian.AppendUint32(q.buf, uint32(len(rec)))
	q.buf = append(q.buf, rec...)
	q.n++
	wake := q.n == q.wakeN
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// swap hands over the queued frames and the number of records, and takes spare (emptied) as the
// new buffer.
func (q *queue) swap(spare []byte) ([]byte, int) {
	q.mu.Lock()
	b, n := q.buf, q.n
	q.buf, q.n = spare[:0], 0
	q.mu.Unlock()
	return b, n
}

// depth returns the queued bytes and records.
func (q *queue) depth() (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.buf), q.n
}

// frames iterates over [u32 length][record] frames, stopping at the first malformed one.
func frames(b []byte, f func(rec []byte)) {
	for rec, rest, ok := nextFrame(b); ok; rec, rest, ok = nextFrame(rest) {
		f(rec)
	}
}

// nextFrame splits the first [u32 length][record] frame off b. It reports false at the end of b
// and at a malformed (torn) frame, which ends the frames.
func nextFrame(b []byte) (rec, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)-4 {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
