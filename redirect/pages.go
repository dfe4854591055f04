package redirect

import "github.com/valyala/fasthttp"

var (
	pageNotFound = []byte(`<!doctype html><meta charset="utf-8"><title>Link not found</title>` +
		`<p style="font:16px system-ui;margin:3em auto;max-width:30em">This link does not exist. Check the address, or ask whoever shared it for a new one.</p>`)
	pageGone = []byte(`<!doctype html><meta charset="utf-8"><title>Link no longer active</title>` +
		`<p style="font:16px system-ui;margin:3em auto;max-width:30em">This link is no longer active.</p>`)
	strTextHTML = []byte("text/html; charset=utf-8")
)

// page answers with a small HTML page that is never cached.
func page(ctx *fasthttp.RequestCtx, status int, body []byte) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentTypeBytes(strTextHTML)
	ctx.Response.Header.SetCanonical(strCacheControl, strNoStore)
	ctx.Response.SetBodyRaw(body)
}
