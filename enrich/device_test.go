package enrich

import "testing"

// Real agents, as browsers, apps and link unfurlers send them.
func TestDevices(t *testing.T) {
	d := NewDevices(100)
	for _, tc := range []struct {
		name, ua string
		want     Device
	}{
		{"Chrome on Windows", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
			Device{"desktop", "Windows", "10.0", "Chrome", "126.0.0.0"}},
		{"Firefox on Linux", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
			Device{"desktop", "Linux", "x86_64", "Firefox", "128.0"}},
		{"Safari on macOS", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
			Device{"desktop", "macOS", "10.15.7", "Safari", "17.5"}},
		{"Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
			Device{"desktop", "Windows", "10.0", "Edge", "126.0.2592.87"}},
		{"Safari on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Device{"mobile", "iOS", "17.5", "Safari", "17.5"}},
		{"Chrome on Android", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36",
			Device{"mobile", "Android", "14", "Chrome", "126.0.6478.122"}},
		{"Samsung Internet", "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
			Device{"mobile", "Android", "13", "Samsung Browser", "25.0"}},
		{"iPad", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
			Device{"tablet", "iOS", "17.5", "Safari", "17.5"}},
		{"Facebook in-app on iPhone", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.108;FBBV/600000000;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/80]",
			Device{"mobile", "iOS", "17.5", "Facebook", ""}},
		{"Instagram in-app on Android", "Mozilla/5.0 (Linux; Android 14; SM-G991B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/126.0.6478.71 Mobile Safari/537.36 Instagram 337.0.0.35.102 Android",
			Device{"mobile", "Android", "14", "Instagram", ""}},
		{"WeChat", "Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI Language/zh_CN",
			Device{"mobile", "iOS", "16.6", "WeChat", ""}},
		{"Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
			Device{"bot", "", "", "Googlebot", "2.1"}},
		{"Slack unfurler", "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
			Device{"bot", "", "", "Slackbot-LinkExpanding 1.0", ""}}, // the parser keeps the version in the name
		{"Twitterbot", "Twitterbot/1.0", Device{"bot", "", "", "Twitterbot", "1.0"}},
		{"Facebook unfurler", "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
			Device{"bot", "", "", "facebookexternalhit", "1.1"}},
		{"empty", "", Device{}},
	} {
		got := d.Parse(tc.ua)
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.name, got, tc.want)
		}
		if again := d.Parse(tc.ua); again != got {
			t.Errorf("%s: the cached parse differs", tc.name)
		}
	}
}

func BenchmarkDevicesCached(b *testing.B) {
	d := NewDevices(100)
	ua := "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	d.Parse(ua)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.Parse(ua)
	}
}
