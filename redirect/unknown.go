package redirect

import (
	"bytes"
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/firstclaim/firstclaim"
)

// unknownPerMinute is how many distinct unknown codes a minute counts one by one; the rest of
// that minute's codes are counted together as firstclaim.CodeOther.
const unknownPerMinute = 1024

// unknownCodes counts the requests for codes that are no link, by code, a minute at a time, and
// hands the counts to the recorder as firstclaim.UnknownCode records when the minute is over: a
// flood of made-up codes costs at most unknownPerMinute+2 records a minute, so it can never crowd
// real clicks out of the queue or the spool. The counting runs on the request path: a fixed table
// under a short lock, no allocation. Safe for concurrent use.
type unknownCodes struct {
	rec  Recorder
	seed maphash.Seed

	mu    sync.Mutex
	cur   *codeTable // counting
	spare *codeTable // emptied, for the next minute; only flush touches it
	buf   []byte     // flush's encoding buffer
}

type codeTable struct {
	minute           int64 // Unix minute of the first hit; -1 while empty
	used             int   // codes in slots
	slots            [2 * unknownPerMinute]codeSlot
	other, malformed codeSlot
}

type codeSlot struct {
	hits        uint64
	first, last int64 // Unix nanoseconds
	h           uint64
	n           uint8
	code        [MaxCodeLen]byte
}

func newUnknownCodes(rec Recorder) *unknownCodes {
	u := &unknownCodes{rec: rec, seed: maphash.MakeSeed(), cur: &codeTable{minute: -1}, spare: &codeTable{minute: -1}}
	return u
}

// count notes a request at now for code (nil: a code that could never be a link).
func (u *unknownCodes) count(code []byte, now time.Time) {
	ns := now.UnixNano()
	var h uint64
	if code != nil {
		h = maphash.Bytes(u.seed, code)
	}
	u.mu.Lock()
	t := u.cur
	if t.minute < 0 {
		t.minute = now.Unix() / 60
	}
	var s *codeSlot
	switch {
	case code == nil:
		s = &t.malformed
	default:
		s = t.find(h, code)
	}
	if s.hits == 0 {
		s.first = ns
	}
	s.hits++
	s.last = max(s.last, ns)
	u.mu.Unlock()
}

// find returns code's slot, taking a free one while the minute's budget lasts, else the slot of
// the other codes.
func (t *codeTable) find(h uint64, code []byte) *codeSlot {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hits == 0 {
			if t.used >= unknownPerMinute {
				return &t.other
			}
			t.used++
			s.h, s.n = h, uint8(copy(s.code[:], code))
			return s
		}
		if s.h == h && bytes.Equal(s.code[:s.n], code) {
			return s
		}
	}
}

// run flushes each minute's counts once it is over, until ctx ends; then it flushes what is left.
func (u *unknownCodes) run(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			u.flush(now, false)
		case <-ctx.Done():
			u.flush(time.Now(), true)
			return
		}
	}
}

// flush hands over the counts of a minute that is over (or, with all, of the current one too).
func (u *unknownCodes) flush(now time.Time, all bool) {
	u.mu.Lock()
	t := u.cur
	if t.minute < 0 || !all && t.minute == now.Unix()/60 {
		u.mu.Unlock()
		return
	}
	u.cur, u.spare = u.spare, nil
	u.mu.Unlock()

	minute := time.Unix(t.minute*60, 0).UTC()
	emit := func(code string, s *codeSlot) {
		if s.hits == 0 {
			return
		}
		r := firstclaim.UnknownCode{ID: firstclaim.NewIDString(now), Minute: minute, Code: code, Hits: s.hits,
			FirstSeen: time.Unix(0, s.first).UTC(), LastSeen: time.Unix(0, s.last).UTC()}
		u.buf = firstclaim.AppendUnknownCode(u.buf[:0], &r)
		u.rec.Record(u.buf)
	}
	for i := range t.slots {
		emit(string(t.slots[i].code[:t.slots[i].n]), &t.slots[i])
	}
	emit(firstclaim.CodeOther, &t.other)
	emit(firstclaim.CodeInvalid, &t.malformed)

	*t = codeTable{minute: -1}
	u.mu.Lock()
	u.spare = t
	u.mu.Unlock()
}
