package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/valyala/fasthttp"
)

// bare is the floor: the same lookup, 302 and cookie as firstclaim, and nothing else.
func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	links := fs.String("links", "", "links CSV")
	cookie := fs.String("cookie", "", "the Set-Cookie value to send")
	fs.Parse(args)
	f, err := os.Open(*links)
	if err != nil {
		return err
	}
	r := csv.NewReader(bufio.NewReader(f))
	r.Read() // header: code,url,...
	dest := map[string][]byte{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		dest[rec[0]] = []byte(rec[1] + "&click_id=")
	}
	f.Close()
	id := []byte("0192f7a8-2b3c-7d4e-8f90-123456789abc")
	setCookie := []byte(*cookie)
	fmt.Println("bare: listening on", *listen)
	return fasthttp.ListenAndServe(*listen, func(ctx *fasthttp.RequestCtx) {
		p := ctx.Path()
		if !bytes.HasPrefix(p, []byte("/r/")) {
			ctx.SetStatusCode(404)
			return
		}
		d, ok := dest[string(p[3:])]
		if !ok {
			ctx.SetStatusCode(404)
			return
		}
		var buf [512]byte
		loc := append(append(buf[:0], d...), id...)
		ctx.SetStatusCode(302)
		ctx.Response.Header.SetBytesV("Location", loc)
		ctx.Response.Header.SetBytesV("Set-Cookie", setCookie)
		ctx.Response.Header.Set("Cache-Control", "private, no-store")
	})
}
