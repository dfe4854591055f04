package cookie

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Errors Verify returns. Each of them means the cookie carries no claim; a redirector marks the
// click as tampered.
var (
	ErrMalformed    = errors.New("malformed claim cookie")
	ErrUnknownKey   = errors.New("claim cookie signed with an unknown key")
	ErrBadSignature = errors.New("claim cookie signature does not verify")
)

// MinSecretLen is the shortest secret a key may have: HMAC-SHA256 wants at least 32 bytes.
const MinSecretLen = 32

const (
	macLen     = sha256.Size
	macB64Len  = 43 // base64.RawURLEncoding.EncodedLen(macLen)
	payloadVer = 1
	maxField   = 255
	maxValue   = 1024
)

// b64strict refuses non-canonical encodings, so that one claim has exactly one cookie value.
var b64strict = base64.RawURLEncoding.Strict()

// Key is one signing key. The id travels in the cookie so that a verifier can pick the key.
type Key struct {
	ID     string
	Secret []byte
}

// ParseKeys reads "id:secret,id:secret" (newest first). Ids are 1 to 16 letters, digits, '_' or
// '-'; secrets are at least MinSecretLen bytes. Errors never include a secret.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, secret, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("cookie key %d: want id:secret", i+1)
		}
		if !validKeyID(id) {
			return nil, fmt.Errorf("cookie key %d: id %q: use 1 to 16 letters, digits, '_' or '-'", i+1, id)
		}
		if len(secret) < MinSecretLen {
			return nil, fmt.Errorf("cookie key %q: secret is %d bytes, want at least %d", id, len(secret), MinSecretLen)
		}
		for _, k := range keys {
			if k.ID == id {
				return nil, fmt.Errorf("cookie key %q: listed twice", id)
			}
		}
		keys = append(keys, Key{ID: id, Secret: []byte(secret)})
	}
	if len(keys) == 0 {
		return nil, errors.New("no cookie keys: give at least one id:secret")
	}
	return keys, nil
}

func validKeyID(id string) bool {
	if len(id) == 0 || len(id) > 16 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Claim is what a claim cookie holds (docs/rules.md §1.2). Times are whole seconds.
type Claim struct {
	PartnerID      string
	Link           string
	ClickID        string
	NetworkClickID string
	ClaimedAt      time.Time
	ExpiresAt      time.Time
}

// Live reports whether the claim covers instant t: ClaimedAt <= t < ExpiresAt (docs/rules.md §8). A claim
// from the future (a clock ahead of ours) counts as live, so that skew cannot take a claim away.
func (c *Claim) Live(t time.Time) bool {
	return !c.ExpiresAt.IsZero() && t.Before(c.ExpiresAt)
}

// Clone returns a copy of c whose strings do not refer to any buffer.
func (c Claim) Clone() Claim {
	c.PartnerID = strings.Clone(c.PartnerID)
	c.Link = strings.Clone(c.Link)
	c.ClickID = strings.Clone(c.ClickID)
	c.NetworkClickID = strings.Clone(c.NetworkClickID)
	return c
}

// Signer signs and verifies claim cookies. It signs with the first key and verifies with any of
// them, so keys rotate by adding a new one in front and dropping the old one once its cookies
// have expired. A Signer is safe for concurrent use.
type Signer struct {
	keys []signerKey
}

type signerKey struct {
	id   string
	pool sync.Pool // of *macState
}

type macState struct {
	h       hash.Hash
	buf     []byte
	payload []byte // Append's encoding of the claim, before base64
	sum     [macLen]byte
}

// NewSigner returns a Signer for keys, newest first.
func NewSigner(keys []Key) (*Signer, error) {
	if len(keys) == 0 {
		return nil, errors.New("no cookie keys")
	}
	s := &Signer{keys: make([]signerKey, len(keys))}
	for i, k := range keys {
		if !validKeyID(k.ID) || len(k.Secret) < MinSecretLen {
			return nil, fmt.Errorf("cookie key %q: invalid id or secret shorter than %d bytes", k.ID, MinSecretLen)
		}
		secret := append([]byte(nil), k.Secret...)
		s.keys[i].id = k.ID
		s.keys[i].pool.New = func() any {
			return &macState{h: hmac.New(sha256.New, secret), buf: make([]byte, 0, 256), payload: make([]byte, 0, 6*maxField+32)}
		}
	}
	return s, nil
}

// mac computes the signature of payload (the "kid.b64payload" part) for program into m.sum.
// The program is part of the signed text, so a cookie of one program is no claim in another.
func (k *signerKey) mac(m *macState, program string, signed []byte) {
	m.h.Reset()
	m.buf = append(append(append(m.buf[:0], "firstclaim/1\x00"...), program...), 0)
	m.h.Write(m.buf)
	m.h.Write(signed)
	m.h.Sum(m.sum[:0])
}

// Append appends the signed cookie value for c in program to dst:
// KEYID "." base64url(payload) "." base64url(HMAC-SHA256). It does not allocate when dst has room.
func (s *Signer) Append(dst []byte, program string, c *Claim) []byte {
	k := &s.keys[0]
	start := len(dst)
	dst = append(dst, k.id...)
	dst = append(dst, '.')
	m := k.pool.Get().(*macState)
	m.payload = appendPayload(m.payload[:0], c)
	dst = base64.RawURLEncoding.AppendEncode(dst, m.payload)
	k.mac(m, program, dst[start:])
	dst = append(dst, '.')
	dst = base64.RawURLEncoding.AppendEncode(dst, m.sum[:])
	k.pool.Put(m)
	return dst
}

func appendPayload(dst []byte, c *Claim) []byte {
	dst = append(dst, payloadVer)
	dst = appendField(dst, c.PartnerID)
	dst = appendField(dst, c.Link)
	dst = appendField(dst, c.ClickID)
	dst = appendField(dst, c.NetworkClickID)
	dst = binary.AppendVarint(dst, c.ClaimedAt.Unix())
	dst = binary.AppendVarint(dst, c.ExpiresAt.Unix())
	return dst
}

func appendField(dst []byte, s string) []byte {
	if len(s) > maxField {
		s = s[:maxField]
	}
	return append(append(dst, byte(len(s))), s...)
}

// Verify checks value's signature in constant time and decodes its claim into c. The payload is
// decoded into scratch (appended at its start), and c's strings refer to the returned buffer: copy
// them (Claim.Clone) to keep them past its next use. On error c is left zero.
func (s *Signer) Verify(scratch []byte, program string, value []byte, c *Claim) ([]byte, error) {
	*c = Claim{}
	scratch = scratch[:0]
	if len(value) > maxValue {
		return scratch, ErrMalformed
	}
	dot1 := bytes.IndexByte(value, '.')
	if dot1 <= 0 {
		return scratch, ErrMalformed
	}
	dot2 := dot1 + 1 + bytes.IndexByte(value[dot1+1:], '.')
	if dot2 <= dot1 || len(value)-dot2-1 != macB64Len {
		return scratch, ErrMalformed
	}
	kid, signed, sig := value[:dot1], value[:dot2], value[dot2+1:]
	var k *signerKey
	for i := range s.keys {
		if s.keys[i].id == b2s(kid) {
			k = &s.keys[i]
			break
		}
	}
	if k == nil {
		return scratch, ErrUnknownKey
	}
	var given [macLen + 2]byte
	n, err := b64strict.Decode(given[:], sig)
	if err != nil || n != macLen {
		return scratch, ErrMalformed
	}
	m := k.pool.Get().(*macState)
	k.mac(m, program, signed)
	ok := hmac.Equal(m.sum[:], given[:macLen])
	k.pool.Put(m)
	if !ok {
		return scratch, ErrBadSignature
	}
	b64 := value[dot1+1 : dot2]
	if need := base64.RawURLEncoding.DecodedLen(len(b64)); cap(scratch) < need {
		scratch = make([]byte, 0, need)
	}
	scratch, err = b64strict.AppendDecode(scratch[:0], b64)
	if err != nil {
		return scratch, ErrMalformed
	}
	if err := decodePayload(scratch, c); err != nil {
		*c = Claim{}
		return scratch, err
	}
	return scratch, nil
}

func decodePayload(p []byte, c *Claim) error {
	if len(p) < 1 || p[0] != payloadVer {
		return ErrMalformed
	}
	p = p[1:]
	var fields [4]string
	for i := range fields {
		if len(p) < 1 || int(p[0]) > len(p)-1 {
			return ErrMalformed
		}
		n := int(p[0])
		fields[i] = b2s(p[1 : 1+n])
		p = p[1+n:]
	}
	claimed, k1 := binary.Varint(p)
	if k1 <= 0 {
		return ErrMalformed
	}
	expires, k2 := binary.Varint(p[k1:])
	if k2 <= 0 || k1+k2 != len(p) || expires < claimed {
		return ErrMalformed
	}
	c.PartnerID, c.Link, c.ClickID, c.NetworkClickID = fields[0], fields[1], fields[2], fields[3]
	c.ClaimedAt = time.Unix(claimed, 0).UTC()
	c.ExpiresAt = time.Unix(expires, 0).UTC()
	return nil
}

// b2s views b as a string without copying; the string must not outlive b's contents.
func b2s(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
