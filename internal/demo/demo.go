// Package demo plays sample visits at a redirector, so that a fresh demo shows what the product
// sees from the first minute: visitors from several countries (through a trusted proxy's
// X-Forwarded-For), on phones, desktops and in-app browsers, a crawler, second clicks by another
// partner (protected), repeat clicks (kept), an image request (not a navigation) and impressions.
// The visits go to the sample links, whose campaign is SampleCampaign, so a report can leave them
// out.
package demo

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// SampleCampaign marks the links the sample visits go to.
const SampleCampaign = "demo-sample"

// SampleLinks are the demo's sample links, as lines of a links file (code, url, partner, program,
// campaign).
func SampleLinks() []string {
	return []string{
		"sample-a,https://shop.example.com/cloud?src=sample,partner-a,affiliate," + SampleCampaign,
		"sample-b,https://shop.example.com/cloud,partner-b,affiliate," + SampleCampaign,
		"sample-c,https://shop.example.com/register,partner-c,ambassador-2025," + SampleCampaign,
	}
}

// Places are addresses whose country the built-in geography database knows (enrich's tests check
// them); a visitor takes one and changes its last byte or group.
var places = []struct{ country, addr string }{
	{"US", "8.8.8.%d"}, {"US", "2001:4860:4860::%x"}, {"GB", "81.2.69.%d"}, {"DE", "5.9.0.%d"}, {"DE", "2a01:4f8::%x"},
	{"JP", "133.242.0.%d"}, {"BR", "200.160.2.%d"}, {"FR", "195.154.0.%d"}, {"NL", "91.198.174.%d"}, {"AU", "1.1.1.%d"},
	{"ZA", "41.0.0.%d"}, {"AR", "190.210.0.%d"}, {"CN", "114.114.114.%d"},
}

// agents are what the visitors browse with: phones, desktops and in-app browsers.
var agents = []string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 335.0.0.0",
	"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/470.0.0.0;]",
	"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
}

const crawler = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"

// Summary counts what Play did.
type Summary struct {
	Visitors, Requests, Impressions int
	Countries                       map[string]int // visitors by the country their address is in
}

// Play sends visitors sample visits to the redirector at base (and three times as many banner views
// without a click) (http://host:port), which must trust
// this machine's address as a proxy (--trusted-proxies) for the visitors' addresses to count.
// seed makes the visits repeatable.
func Play(ctx context.Context, base string, visitors int, seed uint64) (Summary, error) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	client := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	sum := Summary{Countries: map[string]int{}}
	get := func(path, addr, agent, cookie string, navigation bool) (string, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(base, "/")+path, nil)
		if err != nil {
			return "", err
		}
		req.Header.Set("X-Forwarded-For", addr)
		req.Header.Set("User-Agent", agent)
		if navigation {
			req.Header.Set("Sec-Fetch-Dest", "document")
			req.Header.Set("Sec-Fetch-Mode", "navigate")
		} else {
			req.Header.Set("Sec-Fetch-Dest", "image")
			req.Header.Set("Sec-Fetch-Mode", "no-cors")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sum.Requests++
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		var cookies []string
		for _, c := range resp.Cookies() {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		return strings.Join(cookies, "; "), nil
	}
	links := []string{"sample-a", "sample-b", "sample-c"}
	for v := 0; v < visitors; v++ {
		p := places[r.IntN(len(places))]
		n := 1 + r.IntN(250)
		addr := fmt.Sprintf(p.addr, n)
		agent := agents[r.IntN(len(agents))]
		link := links[r.IntN(len(links))]
		sum.Visitors++
		sum.Countries[p.country]++
		switch k := r.IntN(20); {
		case k == 0: // a link preview: a bot, never a claim
			if _, err := get("/r/"+link, addr, crawler, "", true); err != nil {
				return sum, err
			}
			continue
		case k == 1: // embedded in a page as an image: not a navigation, never a claim
			if _, err := get("/r/"+link, addr, agent, "", false); err != nil {
				return sum, err
			}
			continue
		}
		if r.IntN(4) == 0 { // the partner shows its banner first
			if _, err := get("/px/i.gif?link="+link, addr, agent, "", false); err != nil {
				return sum, err
			}
			sum.Impressions++
		}
		cookie, err := get("/r/"+link, addr, agent, "", true)
		if err != nil {
			return sum, err
		}
		switch k := r.IntN(10); {
		case k < 2: // later, another partner's link: the claim is protected
			other := "sample-b"
			if link == "sample-b" {
				other = "sample-a"
			}
			if _, err := get("/r/"+other, addr, agent, cookie, true); err != nil {
				return sum, err
			}
		case k < 4: // the same link again: kept
			if _, err := get("/r/"+link, addr, agent, cookie, true); err != nil {
				return sum, err
			}
		}
	}
	// Most people who see a banner do not click it: viewers load the impression pixel only.
	for v := 0; v < 3*visitors; v++ {
		p := places[r.IntN(len(places))]
		addr := fmt.Sprintf(p.addr, 1+r.IntN(250))
		if _, err := get("/px/i.gif?link="+links[r.IntN(len(links))], addr, agents[r.IntN(len(agents))], "", false); err != nil {
			return sum, err
		}
		sum.Impressions++
	}
	return sum, nil
}
