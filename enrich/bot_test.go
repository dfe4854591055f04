package enrich

import "testing"

// Real agents: browsers and in-app browsers are people; crawlers and link unfurlers are bots.
var agents = []struct {
	ua  string
	bot bool
}{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36", false},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", false},
	{"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", false},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", false},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36", false},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68", false},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.36.97;FBBV/605284521]", false},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 337.0.3.23.54", false},
	{"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 MicroMessenger/8.0.49", false},
	{"curl/8.5.0", false},
	{"Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", true},
	{"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", true},
	{"Twitterbot/1.0", true},
	{"Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", true},
	{"TelegramBot (like TwitterBot)", true},
	{"WhatsApp/2.23.20.0", true},
	{"LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", true},
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", true},
	{"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", true},
	{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36", true},
	{"python-requests/2.32.3", true},
	{"Go-http-client/1.1", true},
	{"Wget/1.21.4", true},
	{"", true},
}

func TestBots(t *testing.T) {
	b := NewBots(0, nil)
	for i := 0; i < 2; i++ { // cold, then cached
		for _, a := range agents {
			if got := b.IsBot([]byte(a.ua)); got != a.bot {
				t.Errorf("IsBot(%q) = %v", a.ua, got)
			}
		}
	}
	if b2 := NewBots(0, []string{}); !b2.IsBot([]byte("curl/8.5.0")) {
		t.Error("with no human agents, curl is a crawler")
	}
}

func TestBotsCachedAllocatesNothing(t *testing.T) {
	b := NewBots(0, nil)
	ua := []byte(agents[0].ua)
	b.IsBot(ua)
	if n := testing.AllocsPerRun(1000, func() { b.IsBot(ua) }); n != 0 {
		t.Fatalf("cached verdict allocates %v times", n)
	}
}
