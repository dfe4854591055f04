package redirect

import (
	"bufio"
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// requestCookie finds what fasthttp's RequestHeader.Cookie finds, on chosen and random headers.
func TestRequestCookieAsFasthttp(t *testing.T) {
	cases := [][]string{
		{"fc_affiliate=bench.abc.def"},
		{"a=1; fc_affiliate=v; b=2"},
		{"a=1;fc_affiliate=v"},
		{" fc_affiliate = v "},
		{"fc_affiliate=\"quoted\""},
		{"fc_affiliate=\"bad\\\"; fc_affiliate=good"},
		{"fc_affiliate"},
		{"=v; fc_affiliate="},
		{"x=1", "fc_affiliate=second-header"},
		{"fc_affiliate=first", "fc_affiliate=second"},
		{"fc_affiliate=a=b"},
		{";;; fc_affiliate=v;;"},
		{"fc_affiliateX=no; Xfc_affiliate=no"},
		{"\tfc_affiliate\t=\tv\t"},
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"fc_affiliate", "a", "=", ";", " ", "\t", "\"", "\\", "v", "x=1", "fc_affiliate="}
	for i := 0; i < 5000; i++ {
		var headers []string
		for h := r.IntN(3) + 1; h > 0; h-- {
			var b strings.Builder
			for n := r.IntN(12); n > 0; n-- {
				b.WriteString(alphabet[r.IntN(len(alphabet))])
			}
			headers = append(headers, b.String())
		}
		cases = append(cases, headers)
	}
	for _, headers := range cases {
		// Parsed from the wire, as a server receives them (Header.Add would collect the cookies).
		raw := "GET /r/x HTTP/1.1\r\nHost: h\r\n"
		for _, h := range headers {
			raw += "Cookie: " + h + "\r\n"
		}
		raw += "\r\n"
		var req, ref fasthttp.Request
		for _, r := range []*fasthttp.Request{&req, &ref} {
			if err := r.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
				t.Fatalf("%q: %v", raw, err)
			}
		}
		got, want := requestCookie(&req.Header, "fc_affiliate"), ref.Header.Cookie("fc_affiliate")
		if string(got) != string(want) || (got == nil) != (want == nil) && len(want)+len(got) > 0 {
			t.Fatalf("Cookie headers %q: got %q, fasthttp finds %q", headers, got, want)
		}
	}
}

func BenchmarkRequestCookie(b *testing.B) {
	raw := []byte("GET /r/l000001 HTTP/1.1\r\nHost: h\r\nUser-Agent: " + browserUA + "\r\nCookie: fc_affiliate=bench.AQJwMQdsMDAwMDAxJDAxYTIwZWNjLTllMDgtNzg1YS04NDMyLWFiODQ1NmFhNzM3NgDY2K6wDdjyzLEN.WLaao7yuAPzJw7Lq0qoDaiE1YI9ft2UTyjusmebqu_Q\r\n\r\n")
	// Each request is parsed afresh, as the server does, and its claim cookie read once.
	for _, c := range []struct {
		name string
		read func(*fasthttp.RequestHeader) []byte
	}{
		{"fasthttp", func(h *fasthttp.RequestHeader) []byte { return h.Cookie("fc_affiliate") }},
		{"in-place", func(h *fasthttp.RequestHeader) []byte { return requestCookie(h, "fc_affiliate") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			var h fasthttp.RequestHeader
			r := bytes.NewReader(raw)
			br := bufio.NewReader(r)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r.Reset(raw)
				br.Reset(r)
				h.Reset()
				if err := h.Read(br); err != nil || len(c.read(&h)) == 0 {
					b.Fatal("no cookie", err)
				}
			}
		})
	}
}
