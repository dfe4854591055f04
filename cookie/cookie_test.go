package cookie

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	secretA = strings.Repeat("a", 32)
	secretB = strings.Repeat("b", 40)
)

func mustSigner(t testing.TB, spec string) *Signer {
	t.Helper()
	keys, err := ParseKeys(spec)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(keys)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseKeys(t *testing.T) {
	for _, tc := range []struct {
		spec, err string
		ids       []string
	}{
		{spec: "k2:" + secretB + ", k1:" + secretA, ids: []string{"k2", "k1"}},
		{spec: "", err: "no cookie keys"},
		{spec: "k1", err: "want id:secret"},
		{spec: "k1:short", err: "secret is 5 bytes"},
		{spec: "bad id:" + secretA, err: "use 1 to 16 letters"},
		{spec: "k1:" + secretA + ",k1:" + secretB, err: "listed twice"},
	} {
		keys, err := ParseKeys(tc.spec)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseKeys(%q) error = %v, want %q", tc.spec, err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "aaaa") {
				t.Errorf("error reveals the secret: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("ParseKeys(%q): %v", tc.spec, err)
		}
		var ids []string
		for _, k := range keys {
			ids = append(ids, k.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
			t.Errorf("ids = %v, want %v", ids, tc.ids)
		}
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	s := mustSigner(t, "k1:"+secretA)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := NewClaim(now.Add(700*time.Millisecond), 30*24*time.Hour, "partner-a", "summer", "0190-id", "ir-123")
	v := s.Append(nil, "ambassador-2025", &c)
	if bytes.ContainsAny(v, " ;,\"\\\r\n") {
		t.Fatalf("cookie value has characters a cookie may not carry: %q", v)
	}
	var got Claim
	if _, err := s.Verify(nil, "ambassador-2025", v, &got); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != c {
		t.Fatalf("claim = %+v, want %+v", got, c)
	}
	if !got.ClaimedAt.Equal(now) || got.ExpiresAt.Sub(got.ClaimedAt) != 30*24*time.Hour {
		t.Fatalf("times = %v .. %v: want whole seconds from %v for 30 days", got.ClaimedAt, got.ExpiresAt, now)
	}
}

// §1.6: a cookie whose signature does not verify is no claim.
func TestVerifyRejects(t *testing.T) {
	s := mustSigner(t, "k1:"+secretA)
	c := NewClaim(time.Unix(1_700_000_000, 0), time.Hour, "p", "l", "id", "")
	good := s.Append(nil, "affiliate", &c)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return b
	}
	dot := bytes.IndexByte(good, '.')
	for name, tc := range map[string]struct {
		program string
		value   []byte
		want    error
	}{
		"payload byte changed":   {"affiliate", flip(dot + 3), ErrBadSignature},
		"signature byte changed": {"affiliate", flip(len(good) - 5), ErrBadSignature},
		"other program":          {"refer-a-friend", good, ErrBadSignature},
		"unknown key id":         {"affiliate", append([]byte("k9"), good[dot:]...), ErrUnknownKey},
		"empty":                  {"affiliate", nil, ErrMalformed},
		"no dots":                {"affiliate", []byte("garbage"), ErrMalformed},
		"short signature":        {"affiliate", good[:len(good)-2], ErrMalformed},
		"huge":                   {"affiliate", bytes.Repeat([]byte("a."), 2000), ErrMalformed},
	} {
		var got Claim
		_, err := s.Verify(nil, tc.program, tc.value, &got)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
		if got != (Claim{}) {
			t.Errorf("%s: claim = %+v, want zero", name, got)
		}
	}
}

// Keys rotate: sign with the newest, verify with all of them.
func TestKeyRotation(t *testing.T) {
	old := mustSigner(t, "k1:"+secretA)
	rotated := mustSigner(t, "k2:"+secretB+",k1:"+secretA)
	retired := mustSigner(t, "k2:"+secretB)
	c := NewClaim(time.Unix(1_700_000_000, 0), time.Hour, "p", "l", "id", "")
	v1 := old.Append(nil, "affiliate", &c)
	var got Claim
	if _, err := rotated.Verify(nil, "affiliate", v1, &got); err != nil {
		t.Fatalf("rotated signer refuses a cookie of the older key: %v", err)
	}
	v2 := rotated.Append(nil, "affiliate", &c)
	if !bytes.HasPrefix(v2, []byte("k2.")) {
		t.Fatalf("rotated signer signs with %q, want the newest key k2", v2[:3])
	}
	if _, err := retired.Verify(nil, "affiliate", v1, &got); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("retired key: err = %v, want ErrUnknownKey", err)
	}
}

// §1.2 to §1.5, with §8's half-open window.
func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	live := NewClaim(t0, 15*24*time.Hour, "A", "l", "c", "")
	for _, tc := range []struct {
		name     string
		rule     string
		at       time.Time
		existing *Claim
		partner  string
		want     Decision
	}{
		{"no cookie claims", "§1.2", t0, nil, "A", Claimed},
		{"same partner keeps", "§1.3", t0.Add(time.Hour), &live, "A", Kept},
		{"other partner is protected", "§1.4", t0.Add(time.Hour), &live, "B", Protected},
		{"last second of the window still protects", "§8", t0.Add(15*24*time.Hour - time.Second), &live, "B", Protected},
		{"window end is exclusive: claims afresh", "§1.5/§8", t0.Add(15 * 24 * time.Hour), &live, "B", Claimed},
		{"expired claim of the same partner claims afresh", "§1.5", t0.Add(16 * 24 * time.Hour), &live, "A", Claimed},
	} {
		if got := Decide(tc.at, tc.existing, tc.partner); got != tc.want {
			t.Errorf("%s (%s): %v, want %v", tc.name, tc.rule, got, tc.want)
		}
	}
}

func TestAppendSetCookie(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 400e6, time.UTC)
	for _, tc := range []struct {
		window time.Duration
		attrs  Attributes
		want   string
	}{
		{15 * 24 * time.Hour, Attributes{}, "fc_affiliate=v; Max-Age=1296000; Expires=Fri, 16 Jan 2026 10:00:00 GMT; Path=/; HttpOnly; SameSite=Lax"},
		{30 * 24 * time.Hour, Attributes{Domain: "example.com", SameSite: SameSiteNone}, "fc_affiliate=v; Max-Age=2592000; Expires=Sat, 31 Jan 2026 10:00:00 GMT; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=None"},
		{time.Hour, Attributes{Secure: true, SameSite: SameSiteStrict}, "fc_affiliate=v; Max-Age=3600; Expires=Thu, 01 Jan 2026 11:00:00 GMT; Path=/; HttpOnly; Secure; SameSite=Strict"},
	} {
		c := NewClaim(now, tc.window, "p", "l", "c", "")
		got := string(AppendSetCookie(nil, []byte("fc_affiliate"), []byte("v"), now, c.ExpiresAt, &tc.attrs))
		if got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestValidDomain(t *testing.T) {
	for d, want := range map[string]bool{"example.com": true, ".go.example.com": true, "": false, "a;b": false, "a\r\nb": false, "a b": false} {
		if ValidDomain(d) != want {
			t.Errorf("ValidDomain(%q) = %v", d, !want)
		}
	}
}

func TestSignVerifyAllocs(t *testing.T) {
	s := mustSigner(t, "k1:"+secretA)
	c := NewClaim(time.Unix(1_700_000_000, 0), time.Hour, "partner", "link", "0190a6f2-0000-7000-8000-000000000000", "")
	buf := make([]byte, 0, 512)
	scratch := make([]byte, 0, 512)
	v := s.Append(nil, "affiliate", &c)
	var got Claim
	if n := testing.AllocsPerRun(200, func() { buf = s.Append(buf[:0], "affiliate", &c) }); n != 0 {
		t.Errorf("Append allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { scratch, _ = s.Verify(scratch, "affiliate", v, &got) }); n != 0 {
		t.Errorf("Verify allocates %v times", n)
	}
}

func BenchmarkVerify(b *testing.B) {
	s := mustSigner(b, "k1:"+secretA)
	c := NewClaim(time.Unix(1_700_000_000, 0), time.Hour, "partner", "link", "0190a6f2-0000-7000-8000-000000000000", "")
	v := s.Append(nil, "affiliate", &c)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		scratch := make([]byte, 0, 512)
		var got Claim
		for pb.Next() {
			scratch, _ = s.Verify(scratch, "affiliate", v, &got)
		}
	})
}

func FuzzVerify(f *testing.F) {
	s := mustSigner(f, "k1:"+secretA)
	c := NewClaim(time.Unix(1_700_000_000, 0), time.Hour, "partner", "link", "id", "net")
	f.Add(s.Append(nil, "affiliate", &c))
	f.Add([]byte("k1.."))
	f.Add([]byte("k1.AAAA." + strings.Repeat("A", 43)))
	f.Fuzz(func(t *testing.T, v []byte) {
		var got Claim
		scratch, err := s.Verify(nil, "affiliate", v, &got)
		if err != nil {
			return
		}
		// Whatever verified must re-sign to the same value: nothing but a signed claim passes.
		re := s.Append(nil, "affiliate", &got)
		if !bytes.Equal(re, v) {
			t.Fatalf("verified %q but re-signs as %q", v, re)
		}
		_ = scratch
	})
}
