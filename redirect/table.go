package redirect

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim"
)

// LinkMeta is what the link store keeps of a link's version beside the link, for the links API:
// its version number, who wrote it, what the change was and when it was written.
type LinkMeta struct {
	Version   uint64
	Actor, Op string
	WrittenAt time.Time
}

// table holds links packed into one arena of bytes, found through an open-addressing index of
// offsets: a link costs its text and a 48-byte header, and the index 8 bytes (at most half full),
// where a map of *Link cost about a kilobyte in all. Nothing in it is a pointer but the two
// slices, so the garbage collector never walks a million links. The names that repeat (partners,
// programs, campaigns, actors, ops) are stored once, in names, and a record holds their numbers.
// A table is never changed once built; changes go to a new, small one (see linkSet).
//
// A destination short enough to be held in a cache entry is stored without its scheme and host,
// which are a name like the others (most links of a program share them: 24 bytes a link for
// https://shop.example.com); a longer one is stored whole, so that an entry can point at it.
//
// A record, at its offset:
//
//	0  uint32 place in (partner, code) order (Link.order), 0 for none
//	4  uint32 expires_at, Unix seconds; 0 for never
//	8  uint32 the destination's scheme and host (names), when split (status bit 1)
//	12 uint64 version
//	20 uint32 written_at, Unix seconds
//	24 uint32 partner  28 uint32 program  32 uint32 campaign  36 uint32 actor  40 uint32 op (names)
//	44 uint8  status: bit 0 disabled, bit 1 the destination is split
//	45 uint8  length of the code
//	46 uint16 length of the destination as stored (without the scheme and host when split)
//	48 the code, then the destination (or its rest)
type table struct {
	arena []byte
	slots []uint32 // record offset + 1; 0 is empty; a power of two long
	names []string
	n     int
	seed  maphash.Seed
}

const recHeader = 48

// tableBuilder makes a table.
type tableBuilder struct {
	t     table
	index map[string]uint32 // names
}

func newTableBuilder(seed maphash.Seed, n int) *tableBuilder {
	b := &tableBuilder{t: table{seed: seed, names: []string{""}}, index: map[string]uint32{"": 0}}
	b.t.arena = make([]byte, 0, n*(recHeader+96))
	return b
}

func (b *tableBuilder) name(s string) uint32 {
	if i, ok := b.index[s]; ok {
		return i
	}
	i := uint32(len(b.t.names))
	s = string([]byte(s)) // its own copy: s may point into a buffer that changes
	b.t.names = append(b.t.names, s)
	b.index[s] = i
	return i
}

// add appends a link; a code added twice is found at its last record.
func (b *tableBuilder) add(l *Link, m *LinkMeta) {
	var h [recHeader]byte
	binary.LittleEndian.PutUint32(h[0:], l.order)
	if !l.ExpiresAt.IsZero() {
		// CheckLink keeps expiries in 1970-2106, as ClickHouse's DateTime does.
		binary.LittleEndian.PutUint32(h[4:], uint32(min(max(l.ExpiresAt.Unix(), 1), math.MaxUint32)))
	}
	if m != nil {
		binary.LittleEndian.PutUint64(h[12:], m.Version)
		if !m.WrittenAt.IsZero() {
			binary.LittleEndian.PutUint32(h[20:], uint32(max(m.WrittenAt.Unix(), 0)))
		}
		binary.LittleEndian.PutUint32(h[36:], b.name(m.Actor))
		binary.LittleEndian.PutUint32(h[40:], b.name(m.Op))
	}
	binary.LittleEndian.PutUint32(h[24:], b.name(l.PartnerID))
	binary.LittleEndian.PutUint32(h[28:], b.name(l.Program))
	binary.LittleEndian.PutUint32(h[32:], b.name(l.Campaign))
	if l.Status == StatusDisabled {
		h[44] = 1
	}
	code := l.Code[:min(len(l.Code), MaxCodeLen)]
	url := l.URL
	if len(code)+len(url) <= entryText {
		if host := authority(url); host > 0 {
			binary.LittleEndian.PutUint32(h[8:], b.name(url[:host]))
			h[44] |= 2
			url = url[host:]
		}
	}
	url = url[:min(len(url), math.MaxUint16)]
	h[45] = uint8(len(code))
	binary.LittleEndian.PutUint16(h[46:], uint16(len(url)))
	b.t.arena = append(b.t.arena, h[:]...)
	b.t.arena = append(b.t.arena, code...)
	b.t.arena = append(b.t.arena, url...)
	b.t.n++
}

// build indexes the records and returns the table. With number set, it numbers the links in the
// clicks table's key order (partner, then code).
func (b *tableBuilder) build(number bool) *table {
	t := &b.t
	if cap(t.arena) > len(t.arena)+len(t.arena)/16 {
		// Grown by appending, it may hold up to twice what it needs: keep what it needs.
		t.arena = append([]byte(nil), t.arena...)
	}
	size := 16
	for size < 2*t.n {
		size *= 2
	}
	t.slots = make([]uint32, size)
	var offs []uint32
	if number {
		offs = make([]uint32, 0, t.n)
	}
	for off := 0; off < len(t.arena); off += t.recLen(off) {
		code := t.code(off)
		i := t.slot(code)
		if t.slots[i] == 0 {
			if number {
				offs = append(offs, uint32(off))
			}
		} else {
			t.n-- // the same code again: the last one wins
		}
		t.slots[i] = uint32(off) + 1
	}
	if number {
		offs = slices.DeleteFunc(offs, func(off uint32) bool { return t.slots[t.slot(t.code(int(off)))] != off+1 })
		slices.SortFunc(offs, func(a, b uint32) int {
			return firstclaim.CompareLinks(t.partner(int(a)), t.code(int(a)), t.partner(int(b)), t.code(int(b)))
		})
		for i, off := range offs {
			binary.LittleEndian.PutUint32(t.arena[off:], uint32(i+1))
		}
	}
	return t
}

func (t *table) recLen(off int) int {
	return recHeader + int(t.arena[off+45]) + int(binary.LittleEndian.Uint16(t.arena[off+46:]))
}

// slot returns the index slot of code: where it is, or the empty slot where it would go.
func (t *table) slot(code string) int {
	mask := len(t.slots) - 1
	i := int(maphash.String(t.seed, code)) & mask
	for {
		s := t.slots[i]
		if s == 0 || t.code(int(s-1)) == code {
			return i
		}
		i = (i + 1) & mask
	}
}

// find returns the offset of code's record, or -1. It does not allocate.
func (t *table) find(code string) int {
	if t == nil || t.n == 0 {
		return -1
	}
	s := t.slots[t.slot(code)]
	return int(s) - 1
}

func (t *table) code(off int) string {
	n := int(t.arena[off+45])
	return b2s(t.arena[off+recHeader : off+recHeader+n])
}

// authority returns the length of url's scheme and host ("https://shop.example.com"), or 0. It
// ends before the path, the query or the fragment, so it holds none of '/', '?', '#' after "//".
func authority(url string) int {
	i := strings.Index(url, "://")
	if i <= 0 {
		return 0
	}
	j := i + 3
	for j < len(url) && url[j] != '/' && url[j] != '?' && url[j] != '#' {
		j++
	}
	return j
}

// urlParts returns the destination's scheme and host (empty when stored whole) and the rest, as
// stored. They do not allocate.
func (t *table) urlParts(off int) (host, rest string) {
	n, u := int(t.arena[off+45]), int(binary.LittleEndian.Uint16(t.arena[off+46:]))
	rest = b2s(t.arena[off+recHeader+n : off+recHeader+n+u])
	if t.arena[off+44]&2 != 0 {
		host = t.names[binary.LittleEndian.Uint32(t.arena[off+8:])]
	}
	return host, rest
}

// url returns the destination; a split one is put together (an allocation: not on the request
// path, which reads urlParts).
func (t *table) url(off int) string {
	host, rest := t.urlParts(off)
	if host == "" {
		return rest
	}
	return host + rest
}

// text is the code and the destination, one after the other, of a record stored whole.
func (t *table) text(off int) string {
	return b2s(t.arena[off+recHeader : off+t.recLen(off)])
}

func (t *table) name(off, at int) string {
	return t.names[binary.LittleEndian.Uint32(t.arena[off+at:])]
}

func (t *table) partner(off int) string  { return t.name(off, 24) }
func (t *table) program(off int) string  { return t.name(off, 28) }
func (t *table) campaign(off int) string { return t.name(off, 32) }
func (t *table) order(off int) uint32    { return binary.LittleEndian.Uint32(t.arena[off:]) }
func (t *table) disabled(off int) bool   { return t.arena[off+44]&1 != 0 }

func (t *table) expires(off int) time.Time {
	if s := binary.LittleEndian.Uint32(t.arena[off+4:]); s != 0 {
		return time.Unix(int64(s), 0).UTC()
	}
	return time.Time{}
}

// link returns the record as a Link (its strings point into the table) and its meta.
func (t *table) link(off int) (Link, LinkMeta) {
	l := Link{Code: t.code(off), URL: t.url(off), PartnerID: t.partner(off), Program: t.program(off), Campaign: t.campaign(off),
		Status: StatusActive, ExpiresAt: t.expires(off), order: t.order(off)}
	if t.disabled(off) {
		l.Status = StatusDisabled
	}
	m := LinkMeta{Version: binary.LittleEndian.Uint64(t.arena[off+12:]), Actor: t.name(off, 36), Op: t.name(off, 40)}
	if w := binary.LittleEndian.Uint32(t.arena[off+20:]); w != 0 {
		m.WrittenAt = time.Unix(int64(w), 0).UTC()
	}
	return l, m
}

// each calls fn with the offset of every record that is the newest of its code, until fn
// returns false.
func (t *table) each(fn func(off int) bool) bool {
	if t == nil {
		return true
	}
	for off := 0; off < len(t.arena); off += t.recLen(off) {
		if t.slots[t.slot(t.code(off))] != uint32(off)+1 {
			continue // an older record of a code added twice
		}
		if !fn(off) {
			return false
		}
	}
	return true
}
