package firstclaim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unsafe"
)

// Record kinds: the first byte of every encoded record.
const (
	RecordClick       byte = 1
	RecordAssociation byte = 2
	RecordImpression  byte = 3
	RecordUnknownCode byte = 4
)

// recordVersion is the second byte of every encoded record. Spooled records can outlive a
// release, so a decoder must know which layout it reads; bump it and keep the old reader when a
// field is added.
const recordVersion byte = 1

// clickVersion is the layout of click records: 2 added Order after the header. Clicks of layout 1
// (spooled by an earlier release) still decode, with Order 0.
const clickVersion byte = 2

// ErrCorrupt reports an encoded record that cannot be decoded.
var ErrCorrupt = errors.New("corrupt record")

// AppendClick appends the binary encoding of c to dst. It does not allocate when dst has room.
func AppendClick(dst []byte, c *Click) []byte {
	dst = append(dst, RecordClick, clickVersion)
	dst = binary.LittleEndian.AppendUint32(dst, c.Order)
	dst = appendString(dst, c.ID)
	dst = appendTime(dst, c.TS)
	dst = appendString(dst, c.Link)
	dst = appendString(dst, c.PartnerID)
	dst = appendString(dst, c.Program)
	dst = appendString(dst, c.Campaign)
	dst = append(dst, byte(c.Outcome))
	dst = appendString(dst, c.ClaimPartnerID)
	dst = appendString(dst, c.ClaimClickID)
	dst = appendTime(dst, c.ClaimExpiresAt)
	dst = appendAddr(dst, c.IP)
	dst = appendString(dst, c.UserAgent)
	dst = appendString(dst, c.Referer)
	dst = binary.LittleEndian.AppendUint64(dst, c.Visitor)
	dst = append(dst, flags(c.Tampered, c.Bot, c.NotNavigation, c.RateLimited, c.Duplicate, c.GPC))
	dst = appendString(dst, c.NetworkParam)
	dst = appendString(dst, c.NetworkClickID)
	return dst
}

// DecodeClick decodes a record written by AppendClick. Strings are copied: the result does not
// refer to b.
func DecodeClick(b []byte, c *Click) error {
	return decodeClick(decoder{b: b}, c)
}

// DecodeClickView is DecodeClick without the copies: c's strings refer to b, so they are good
// only while b is neither changed nor reused. The sink's worker decodes a batch this way, hands
// it to the writer and only then reuses the buffer; copying every id, code and user agent of
// every click was most of its garbage, and collections on a one-core server show in the
// redirects' latency.
func DecodeClickView(b []byte, c *Click) error {
	return decodeClick(decoder{b: b, view: true}, c)
}

func decodeClick(d decoder, c *Click) error {
	c.Order = 0
	if d.clickHeader() == clickVersion {
		c.Order = d.uint32()
	}
	c.ID = d.string()
	c.TS = d.time()
	c.Link = d.string()
	c.PartnerID = d.string()
	c.Program = d.string()
	c.Campaign = d.string()
	c.Outcome = Outcome(d.byte())
	c.ClaimPartnerID = d.string()
	c.ClaimClickID = d.string()
	c.ClaimExpiresAt = d.time()
	c.IP = d.addr()
	c.UserAgent = d.string()
	c.Referer = d.string()
	c.Visitor = d.uint64()
	f := d.byte()
	c.Tampered, c.Bot, c.NotNavigation = f&1 != 0, f&2 != 0, f&4 != 0
	c.RateLimited, c.Duplicate, c.GPC = f&8 != 0, f&16 != 0, f&32 != 0
	c.NetworkParam = d.string()
	c.NetworkClickID = d.string()
	if d.err == nil && c.Outcome >= outcomeCount {
		d.fail("outcome %d", c.Outcome)
	}
	return d.done()
}

// ClickSortKey reads from the start of an encoded click what places it in the clicks table's
// order, without decoding the rest: its Order, id, time (Unix milliseconds, 0 for none), link and
// partner. The strings refer to rec. ok is false for a click of layout 1 (it has no Order) and for
// a record that is not a readable click.
func ClickSortKey(rec []byte) (order uint32, id string, ms int64, link, partner string, ok bool) {
	d := decoder{b: rec, view: true}
	if d.clickHeader() != clickVersion {
		return 0, "", 0, "", "", false
	}
	order = d.uint32()
	id = d.string()
	ms = d.millis()
	link = d.string()
	partner = d.string()
	return order, id, ms, link, partner, d.err == nil
}

// AppendAssociation appends the binary encoding of a to dst.
func AppendAssociation(dst []byte, a *Association) []byte {
	dst = append(dst, RecordAssociation, recordVersion)
	dst = appendString(dst, a.ID)
	dst = appendTime(dst, a.TS)
	dst = appendString(dst, a.Program)
	dst = appendString(dst, a.AccountID)
	dst = appendString(dst, a.PartnerID)
	dst = appendString(dst, a.ClickID)
	dst = appendString(dst, a.Link)
	dst = appendString(dst, a.Kind)
	dst = appendTime(dst, a.ClaimedAt)
	dst = appendTime(dst, a.ClaimExpiresAt)
	dst = appendString(dst, a.Source)
	dst = appendString(dst, a.NetworkClickID)
	return dst
}

// DecodeAssociation decodes a record written by AppendAssociation.
func DecodeAssociation(b []byte, a *Association) error {
	d := decoder{b: b}
	d.header(RecordAssociation)
	a.ID = d.string()
	a.TS = d.time()
	a.Program = d.string()
	a.AccountID = d.string()
	a.PartnerID = d.string()
	a.ClickID = d.string()
	a.Link = d.string()
	a.Kind = d.string()
	a.ClaimedAt = d.time()
	a.ClaimExpiresAt = d.time()
	a.Source = d.string()
	a.NetworkClickID = d.string()
	return d.done()
}

// AppendImpression appends the binary encoding of m to dst.
func AppendImpression(dst []byte, m *Impression) []byte {
	dst = append(dst, RecordImpression, recordVersion)
	dst = appendString(dst, m.ID)
	dst = appendTime(dst, m.TS)
	dst = appendString(dst, m.Link)
	dst = appendString(dst, m.PartnerID)
	dst = appendString(dst, m.Program)
	dst = appendString(dst, m.Campaign)
	dst = appendAddr(dst, m.IP)
	dst = appendString(dst, m.UserAgent)
	dst = appendString(dst, m.Referer)
	dst = binary.LittleEndian.AppendUint64(dst, m.Visitor)
	dst = append(dst, flags(m.Bot, m.Known))
	return dst
}

// DecodeImpression decodes a record written by AppendImpression.
func DecodeImpression(b []byte, m *Impression) error {
	d := decoder{b: b}
	d.header(RecordImpression)
	m.ID = d.string()
	m.TS = d.time()
	m.Link = d.string()
	m.PartnerID = d.string()
	m.Program = d.string()
	m.Campaign = d.string()
	m.IP = d.addr()
	m.UserAgent = d.string()
	m.Referer = d.string()
	m.Visitor = d.uint64()
	f := d.byte()
	m.Bot, m.Known = f&1 != 0, f&2 != 0
	return d.done()
}

// AppendUnknownCode appends the binary encoding of u to dst.
func AppendUnknownCode(dst []byte, u *UnknownCode) []byte {
	dst = append(dst, RecordUnknownCode, recordVersion)
	dst = appendString(dst, u.ID)
	dst = appendTime(dst, u.Minute)
	dst = appendString(dst, u.Code)
	dst = binary.LittleEndian.AppendUint64(dst, u.Hits)
	dst = appendTime(dst, u.FirstSeen)
	dst = appendTime(dst, u.LastSeen)
	return dst
}

// DecodeUnknownCode decodes a record written by AppendUnknownCode.
func DecodeUnknownCode(b []byte, u *UnknownCode) error {
	d := decoder{b: b}
	d.header(RecordUnknownCode)
	u.ID = d.string()
	u.Minute = d.time()
	u.Code = d.string()
	u.Hits = d.uint64()
	u.FirstSeen = d.time()
	u.LastSeen = d.time()
	return d.done()
}

func flags(bits ...bool) byte {
	var f byte
	for i, b := range bits {
		if b {
			f |= 1 << i
		}
	}
	return f
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendTime stores milliseconds since the epoch; the zero time is stored as 0.
func appendTime(dst []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(dst, 0)
	}
	return binary.AppendVarint(dst, t.UnixMilli())
}

func appendAddr(dst []byte, a netip.Addr) []byte {
	switch {
	case a.Is4():
		b := a.As4()
		return append(append(dst, 4), b[:]...)
	case a.IsValid():
		b := a.As16()
		return append(append(dst, 16), b[:]...)
	}
	return append(dst, 0)
}

type decoder struct {
	b    []byte
	err  error
	view bool // strings refer to b instead of copying it
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) header(kind byte) {
	if len(d.b) < 2 {
		d.fail("short header")
		return
	}
	if d.b[0] != kind {
		d.fail("kind %d, want %d", d.b[0], kind)
		return
	}
	if d.b[1] != recordVersion {
		d.fail("version %d", d.b[1])
		return
	}
	d.b = d.b[2:]
}

// clickHeader reads a click's header and returns its layout, 1 or clickVersion.
func (d *decoder) clickHeader() byte {
	if len(d.b) >= 2 && d.b[0] == RecordClick && d.b[1] == clickVersion {
		d.b = d.b[2:]
		return clickVersion
	}
	d.header(RecordClick)
	return recordVersion
}

func (d *decoder) uint32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.fail("short uint32")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("short byte")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) uint64() uint64 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 8 {
		d.fail("short uint64")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

func (d *decoder) string() string {
	if d.err != nil {
		return ""
	}
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)-k) {
		d.fail("string length")
		return ""
	}
	var s string
	switch {
	case n == 0:
	case d.view:
		s = unsafe.String(&d.b[k], int(n))
	default:
		s = string(d.b[k : k+int(n)])
	}
	d.b = d.b[k+int(n):]
	return s
}

func (d *decoder) time() time.Time {
	ms := d.millis()
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// millis reads a time as appendTime stored it: Unix milliseconds, 0 for the zero time.
func (d *decoder) millis() int64 {
	if d.err != nil {
		return 0
	}
	ms, k := binary.Varint(d.b)
	if k <= 0 {
		d.fail("time")
		return 0
	}
	d.b = d.b[k:]
	return ms
}

func (d *decoder) addr() netip.Addr {
	switch n := d.byte(); {
	case d.err != nil:
	case n == 0:
	case n == 4 && len(d.b) >= 4:
		a := netip.AddrFrom4([4]byte(d.b[:4]))
		d.b = d.b[4:]
		return a
	case n == 16 && len(d.b) >= 16:
		a := netip.AddrFrom16([16]byte(d.b[:16]))
		d.b = d.b[16:]
		return a
	default:
		d.fail("address length %d", n)
	}
	return netip.Addr{}
}

func (d *decoder) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
	return d.err
}

// RecordKind returns the kind byte of an encoded record, or 0 when b is empty.
func RecordKind(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
