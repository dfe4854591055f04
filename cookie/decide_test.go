package cookie

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestAppendHTTPDateMatchesTime(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 100_000; i++ {
		tm := time.Unix(r.Int64N(400*365*86400)-100*365*86400, 0).In(time.FixedZone("x", 3600*r.IntN(24)-43200))
		want := tm.UTC().AppendFormat(nil, "Mon, 02 Jan 2006 15:04:05 GMT")
		if got := appendHTTPDate([]byte("x"), tm); string(got[1:]) != string(want) {
			t.Fatalf("%v: %q, want %q", tm, got[1:], want)
		}
	}
}

func BenchmarkAppendHTTPDate(b *testing.B) {
	buf := make([]byte, 0, 64)
	t := time.Now()
	b.Run("appendHTTPDate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = appendHTTPDate(buf[:0], t)
		}
	})
	b.Run("time.AppendFormat", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = t.UTC().AppendFormat(buf[:0], "Mon, 02 Jan 2006 15:04:05 GMT")
		}
	})
}
