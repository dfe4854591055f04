package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// openloop sends requests at a fixed rate whatever the server does, and measures each from the time
// it should have been sent (so a server that stalls is charged for the queue it builds), like wrk2.
func openloop(args []string) error {
	fs := flag.NewFlagSet("openloop", flag.ExitOnError)
	addr := fs.String("addr", "", "host:port")
	rate := fs.Float64("rate", 1000, "requests per second")
	dur := fs.Duration("duration", 10*time.Second, "how long")
	conns := fs.Int("conns", 64, "connections")
	links := fs.Int("links", 100000, "spread over this many link codes")
	cookie := fs.String("cookie", "", "Cookie header to send")
	visitors := fs.Int("visitors", 0, "spread requests over this many visitors: X-Forwarded-For addresses (IPv4 and IPv6) and user agents; 0: one")
	fs.Parse(args)
	client := &fasthttp.HostClient{Addr: *addr, MaxConns: *conns, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	type shot struct{ at time.Time }
	work := make(chan shot, 1<<16)
	var mu sync.Mutex
	lat := make([]time.Duration, 0, int(*rate*dur.Seconds())+16)
	errs := 0
	var wg sync.WaitGroup
	for w := 0; w < *conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.Header.Set("User-Agent", browserUA)
			if *cookie != "" {
				req.Header.Set("Cookie", *cookie)
			}
			// The URI is rebuilt in place: a generator that makes garbage for every request has
			// collections of its own, and their pauses would be charged to the server.
			uri := []byte("http://" + *addr + "/r/l")
			prefix := len(uri)
			var xff []byte
			for s := range work {
				uri = appendCode(uri[:prefix], rand.IntN(*links))
				req.SetRequestURIBytes(uri)
				if *visitors > 0 {
					v := rand.IntN(*visitors)
					xff = appendVisitorAddr(xff[:0], v)
					req.Header.SetBytesV("X-Forwarded-For", xff)
					req.Header.Set("User-Agent", agents[v%len(agents)])
				}
				err := client.Do(req, resp)
				d := time.Since(s.at)
				mu.Lock()
				if err != nil || resp.StatusCode() != 302 {
					errs++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	interval := time.Duration(float64(time.Second) / *rate)
	n := int(float64(*dur) / float64(interval))
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		work <- shot{at}
	}
	close(work)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p/100*float64(len(lat))))].Microseconds())
	}
	fmt.Printf("RESULT %d %d %.0f %.0f %.0f %d %d\n", len(lat), time.Since(start).Microseconds(), pct(50), pct(99), pct(99.9), errs, 0)
	return nil
}

// appendCode appends the six-digit number of a link code (l000042 is link 42).
func appendCode(dst []byte, n int) []byte {
	var d [6]byte
	for i := len(d) - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(dst, d[:]...)
}

// agents are the user agents of the soak's visitors: phones, desktops, in-app browsers.
var agents = []string{
	browserUA,
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 335.0.0.0",
	"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/470.0.0.0;]",
	"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 MicroMessenger/8.0.49",
}

// appendVisitorAddr appends visitor v's address: two in three IPv4 (spread over the whole space),
// one in three an IPv6 address in a /64 of its own.
func appendVisitorAddr(dst []byte, v int) []byte {
	h := uint64(v)*0x9e3779b97f4a7c15 + 1
	if v%3 != 2 {
		for i, b := range [4]uint64{1 + (h>>56)%223, (h >> 48) & 0xff, (h >> 40) & 0xff, 1 + (h>>32)%254} {
			if i > 0 {
				dst = append(dst, '.')
			}
			dst = strconv.AppendUint(dst, b, 10)
		}
		return dst
	}
	dst = append(dst, "2001:db8:"...)
	dst = strconv.AppendUint(dst, (h>>48)&0xffff, 16)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, (h>>32)&0xffff, 16)
	dst = append(dst, "::"...)
	return strconv.AppendUint(dst, 1+(h>>16)%0xfffe, 16)
}
