package redirect

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// requestCookies appends to dst the values of every cookie called name in the request's Cookie
// headers, in the order they came, parsed as fasthttp's RequestHeader.Cookie parses them (names and
// values trimmed of spaces and tabs, a value's surrounding quotes dropped, a value holding '"', ';'
// or '\\' skipped), but read in place: Cookie first copies every cookie of the request out of the
// header, which the redirect, reading one name, does not need. The values point into the request
// and are valid until the handler returns.
//
// Every cookie of the name counts, not the first only: a sibling subdomain can set a cookie of the
// same name with a longer Path (cookie tossing), which the browser then sends first; reading only
// that one would make a live claim look tampered with.
func requestCookies(dst [][]byte, h *fasthttp.RequestHeader, name string) [][]byte {
	for _, line := range h.PeekAll(fasthttp.HeaderCookie) {
		for len(line) > 0 {
			var pair []byte
			if i := bytes.IndexByte(line, ';'); i >= 0 {
				pair, line = line[:i], line[i+1:]
			} else {
				pair, line = line, nil
			}
			var key, val []byte
			if i := bytes.IndexByte(pair, '='); i >= 0 {
				key, val = trimSpace(pair[:i]), trimSpace(pair[i+1:])
				if n := len(val); n > 1 && val[0] == '"' && val[n-1] == '"' {
					val = val[1 : n-1]
				}
			} else {
				val = trimSpace(pair)
			}
			// A value cannot hold ';' (the pairs are cut there).
			if b2s(key) == name && bytes.IndexByte(val, '"') < 0 && bytes.IndexByte(val, '\\') < 0 {
				dst = append(dst, val)
			}
		}
	}
	return dst
}

// requestCookie returns the first value requestCookies finds, or nil.
func requestCookie(h *fasthttp.RequestHeader, name string) []byte {
	var one [4][]byte
	if vals := requestCookies(one[:0], h, name); len(vals) > 0 {
		return vals[0]
	}
	return nil
}
