package sink

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim"
)

// KeyOrdered is a Writer whose store keeps clicks sorted by a key (ClickOrder: its columns) and
// does less work when a batch comes in that order: ClickHouse sorts every part it writes unless
// its rows are sorted already, and that sort (and moving every column into its order) was about a
// third of its CPU per insert. When the key is firstclaim.ClickOrder (partner, link, time, click
// id: what the records let the sink place, see keyOrder), the sink hands the Writer each batch's
// clicks in that order; with any other key, as they came.
type KeyOrdered interface {
	Writer
	ClickOrder() []string
}

// sortsFor reports whether the sink can hand w its clicks in w's order.
func sortsFor(w Writer) bool {
	ko, ok := w.(KeyOrdered)
	return ok && slices.Equal(ko.ClickOrder(), firstclaim.ClickOrder())
}

// clickKey is what orders a click: its link's place in (partner, link) order (firstclaim.Click.Order),
// its time in seconds and its id, a UUID whose text sorts as its 128 bits, read as two numbers.
type clickKey struct {
	order  uint32
	off    uint32 // the record's frame in the batch
	ts     int64
	hi, lo uint64
}

// keyOrder returns the offsets of data's frames in the order to write them: the clicks in the
// table's key order, then the other records as they came. It returns nil (write them as they
// came) when a click cannot be placed from its record alone: one spooled by an earlier release
// (no Order), or with an id that is not a UUID. The order then is no worse than before; the store
// sorts as it always did. The clicks of codes that are no link (Order 0, no partner) go first,
// sorted by code.
//
// Placing a click reads the start of its record; sorting is a radix sort on Order, which keeps
// arrival order within a link, then an insertion sort of each link's run by time and id, which the
// clicks of one redirector already nearly have (ids sort by time to a quarter of a microsecond).
// Between runs of keyChunk records it yields to the request handlers.
func (s *Sink) keyOrder(data []byte) []uint32 {
	keys, rest := s.keys[:0], s.restOffs[:0]
	defer func() { s.keys, s.restOffs = keys[:0], rest[:0] }()
	maxOrder := uint32(0)
	began, read := time.Now(), 0
	for off := 0; off+4 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n > len(data)-off-4 {
			break
		}
		rec := data[off+4 : off+4+n]
		if firstclaim.RecordKind(rec) != firstclaim.RecordClick {
			rest = append(rest, uint32(off))
		} else {
			k, ok := readClickKey(rec)
			if !ok {
				return nil
			}
			k.off = uint32(off)
			keys = append(keys, k)
			maxOrder = max(maxOrder, k.order)
		}
		off += 4 + n
		if read++; read%keyChunk == 0 {
			s.yield(time.Since(began))
			began = time.Now()
		}
	}
	if len(keys) < 2 {
		return nil
	}
	keys = s.radixByOrder(keys, maxOrder)
	unknown := 0 // the clicks of codes that are no link come first
	for unknown < len(keys) && keys[unknown].order == 0 {
		unknown++
	}
	sortUnknown(keys[:unknown], data)
	if linked := keys[unknown:]; !sortRuns(linked) {
		slices.SortFunc(linked, func(a, b clickKey) int {
			switch {
			case a.order != b.order:
				return cmp.Compare(a.order, b.order)
			case keyLess(&a, &b):
				return -1
			case keyLess(&b, &a):
				return 1
			}
			return 0
		})
	}
	offs := s.offs[:0]
	for i := range keys {
		offs = append(offs, keys[i].off)
	}
	offs = append(offs, rest...)
	s.offs = offs
	return offs
}

// keyChunk is how many records keyOrder reads between yields.
const keyChunk = 4096

// readClickKey reads what places a click from the start of its record (firstclaim.ClickSortKey).
// A click without Order can be placed only if it is a code that is no link (no partner): those sort
// before every link, by code.
func readClickKey(rec []byte) (clickKey, bool) {
	var k clickKey
	order, id, ms, _, partner, ok := firstclaim.ClickSortKey(rec)
	if !ok || order == 0 && partner != "" {
		return k, false
	}
	if k.hi, k.lo, ok = uuidBits(id); !ok {
		return k, false
	}
	k.order, k.ts = order, max(ms, 0)/1000
	return k, true
}

// sortUnknown sorts the clicks of codes that are no link (order 0) by code, time and id. They are
// few, and their codes are read again from the records.
func sortUnknown(keys []clickKey, data []byte) {
	code := func(k *clickKey) string {
		rec, _, _ := nextFrame(data[k.off:])
		_, _, _, link, _, _ := firstclaim.ClickSortKey(rec)
		return link
	}
	slices.SortFunc(keys, func(a, b clickKey) int {
		if c := strings.Compare(code(&a), code(&b)); c != 0 {
			return c
		}
		switch {
		case keyLess(&a, &b):
			return -1
		case keyLess(&b, &a):
			return 1
		}
		return 0
	})
}

// uuidBits reads a UUID in its 36-character form with small hex digits (as firstclaim.NewID writes
// it, whose text order is then the order of the bits).
func uuidBits(id string) (hi, lo uint64, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return 0, 0, false
	}
	var bad byte // any digit's table entry with its high bit set: not a small hex digit
	for i := 0; i < 18; i++ {
		if i != 8 && i != 13 {
			d := hexValue[id[i]]
			bad |= d
			hi = hi<<4 | uint64(d&15)
		}
	}
	for i := 19; i < 36; i++ {
		if i != 23 {
			d := hexValue[id[i]]
			bad |= d
			lo = lo<<4 | uint64(d&15)
		}
	}
	return hi, lo, bad&0x80 == 0
}

// hexValue maps a small hex digit to its value and every other byte to 0x80.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x80
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	return t
}()

// radixByOrder sorts keys by order, keeping their order within each value (an LSD radix sort,
// eleven bits at a time, in as many passes as the largest order needs).
func (s *Sink) radixByOrder(keys []clickKey, maxOrder uint32) []clickKey {
	const bits = 11
	tmp := s.keysTmp[:0]
	if cap(tmp) < len(keys) {
		tmp = make([]clickKey, len(keys))
	}
	tmp = tmp[:len(keys)]
	var count [1 << bits]int
	for shift := uint(0); shift < 32 && maxOrder>>shift != 0; shift += bits {
		clear(count[:])
		for i := range keys {
			count[keys[i].order>>shift&(1<<bits-1)]++
		}
		pos := 0
		for d := range count {
			pos, count[d] = pos+count[d], pos
		}
		for i := range keys {
			d := keys[i].order >> shift & (1<<bits - 1)
			tmp[count[d]] = keys[i]
			count[d]++
		}
		keys, tmp = tmp, keys
	}
	s.keysTmp = tmp[:0]
	return keys
}

// sortRuns sorts each run of one order by time and id, by insertion: the runs of one redirector's
// clicks come nearly sorted. Clicks much out of order (many handlers on many cores) would make that
// slow: past a budget of moves it stops and reports false, and the caller sorts them all.
func sortRuns(keys []clickKey) bool {
	budget := 8 * len(keys)
	for i := 1; i < len(keys); i++ {
		k := keys[i]
		j := i
		for j > 0 && keys[j-1].order == k.order && keyLess(&k, &keys[j-1]) {
			keys[j] = keys[j-1]
			j--
		}
		keys[j] = k
		if budget -= i - j; budget < 0 {
			return false
		}
	}
	return true
}

func keyLess(a, b *clickKey) bool {
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	if a.hi != b.hi {
		return a.hi < b.hi
	}
	return a.lo < b.lo
}
