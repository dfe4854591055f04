package redirect

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// requestCookie returns the value of the first cookie called name in the request's Cookie headers,
// as fasthttp's RequestHeader.Cookie does (names and values trimmed of spaces and tabs, a value's
// surrounding quotes dropped, a value holding '"', ';' or '\\' skipped), but read in place: Cookie
// first copies every cookie of the request out of the header, which the redirect, reading one,
// does not need. The result points into the request and is valid until the handler returns.
func requestCookie(h *fasthttp.RequestHeader, name string) []byte {
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
				return val
			}
		}
	}
	return nil
}
