package firstclaim

import (
	"math/rand/v2"
	"time"
)

// IDLen is the length of an event id in text form.
const IDLen = 36

const hexdigits = "0123456789abcdef"

// NewID writes a new event id into dst: a UUID version 7 (48 bits of Unix milliseconds, 12 bits of
// the fraction of the millisecond, in steps of 1/4096, as RFC 9562 section 6.2 method 3 allows,
// then 62 random bits), in its usual 36-character form. Ids sort by time, to a quarter of a
// microsecond, so a click id also orders events of the same instant (docs/rules.md §8), the clicks of one
// redirector sort in the order they came, and any number of redirectors can make ids without
// talking to each other. It does not allocate.
func NewID(dst *[IDLen]byte, now time.Time) {
	var u [16]byte
	ms := uint64(now.UnixMilli())
	u[0], u[1], u[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	u[3], u[4], u[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	frac := uint64(now.Nanosecond()%1e6) * 4096 / 1e6
	u[6] = 0x70 | byte(frac>>8)
	u[7] = byte(frac)
	r2 := rand.Uint64()
	u[8] = 0x80 | byte(r2>>58)&0x3f
	for i := 9; i < 16; i++ {
		u[i] = byte(r2 >> (8 * (i - 9)))
	}
	j := 0
	for i, b := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hexdigits[b>>4], hexdigits[b&0x0f]
		j += 2
	}
}

// NewIDString returns a new event id as a string.
func NewIDString(now time.Time) string {
	var b [IDLen]byte
	NewID(&b, now)
	return string(b[:])
}
