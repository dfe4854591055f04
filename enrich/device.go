package enrich

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/mileusna/useragent"
)

// Device is what a user agent says about the visitor's device.
type Device struct {
	Type           string // desktop, mobile, tablet, bot, or "" when unknown
	OS             string
	OSVersion      string
	Browser        string
	BrowserVersion string
}

// Devices parses user agents with github.com/mileusna/useragent and caches the result per agent
// string (a few thousand agents make most of the traffic). In-app browsers, which the parser
// reports as the engine they embed, are named after their app. Safe for concurrent use.
type Devices struct {
	cache *lru.Cache[string, Device]
}

// NewDevices keeps up to size parsed agents.
func NewDevices(size int) *Devices {
	if size <= 0 {
		size = 20_000
	}
	c, _ := lru.New[string, Device](size)
	return &Devices{cache: c}
}

// inApp are the markers of in-app browsers: the apps people open shared links in.
var inApp = []struct{ marker, name string }{
	{"FBAN/", "Facebook"}, {"FBAV/", "Facebook"}, {"FB_IAB/", "Facebook"},
	{"Instagram ", "Instagram"}, {"MicroMessenger/", "WeChat"}, {" Line/", "LINE"},
	{"BytedanceWebview", "TikTok"}, {"musical_ly", "TikTok"}, {"Snapchat/", "Snapchat"},
	{"Pinterest/", "Pinterest"}, {"LinkedInApp", "LinkedIn"}, {"Twitter for", "Twitter"},
}

// Parse returns the device of a user agent.
func (d *Devices) Parse(ua string) Device {
	if ua == "" {
		return Device{}
	}
	if dev, ok := d.cache.Get(ua); ok {
		return dev
	}
	p := useragent.Parse(ua)
	dev := Device{OS: p.OS, OSVersion: p.OSVersion, Browser: p.Name, BrowserVersion: p.Version}
	switch {
	case p.Bot:
		dev.Type = "bot"
	case p.Tablet:
		dev.Type = "tablet"
	case p.Mobile:
		dev.Type = "mobile"
	case p.Desktop:
		dev.Type = "desktop"
	}
	for _, a := range inApp {
		if strings.Contains(ua, a.marker) {
			dev.Browser, dev.BrowserVersion = a.name, ""
			if dev.Type == "" || dev.Type == "desktop" && (dev.OS == "iOS" || dev.OS == "Android") {
				dev.Type = "mobile"
			}
			break
		}
	}
	// Keep the cache's memory bounded by what a sane agent is.
	if len(ua) <= 512 {
		d.cache.Add(strings.Clone(ua), dev)
	}
	return dev
}
