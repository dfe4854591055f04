package attribution

import (
	"strings"
	"testing"
	"time"
)

// §6: the presets' windows and where they count from.
func TestPresets(t *testing.T) {
	progs := Presets()
	for name, want := range map[string]struct {
		days int
		from string
	}{
		PresetAffiliate: {15, FromClick}, PresetAmbassador2021: {30, FromAssociation}, PresetAmbassador2025: {30, FromAssociation},
		PresetReferAFriend: {30, FromClick}, PresetCampaign: {30, FromAssociation},
	} {
		p, ok := progs[name]
		if !ok {
			t.Fatalf("preset %s missing", name)
		}
		if p.WindowDays != want.days || p.WindowFrom != want.from || p.Window() != time.Duration(want.days)*24*time.Hour {
			t.Errorf("%s: window %d days from %s", name, p.WindowDays, p.WindowFrom)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if p.CookieName() != "fc_"+name {
			t.Errorf("%s: cookie %s", name, p.CookieName())
		}
	}
	if len(progs[PresetAffiliate].Rules.Products) != 16 {
		t.Errorf("affiliate products: %d, want the 16 of seed 000 rule 1", len(progs[PresetAffiliate].Rules.Products))
	}
	// Presets() hands out copies.
	progs[PresetAffiliate].Rules.Products[0] = "changed"
	if Presets()[PresetAffiliate].Rules.Products[0] != "ecs" {
		t.Fatal("a caller changed the built-in preset")
	}
}

func TestParsePrograms(t *testing.T) {
	progs, err := ParsePrograms("programs.json", []byte(`[{"name":"acme","preset":"affiliate","window_days":20,"click_param":"ref","network_params":["irclickid"],"rules":{"order_rate":"0.05"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	a := progs["acme"]
	if a.WindowDays != 20 || a.WindowFrom != FromClick || a.ClickParam != "ref" || a.Rules.OrderRate != "0.05" || a.Rules.LeadAmount != "7.00" || a.Preset != PresetAffiliate {
		t.Fatalf("acme = %+v", a)
	}
	if _, ok := progs[PresetAmbassador2021]; !ok {
		t.Fatal("presets dropped when a programs file is given")
	}
	for _, tc := range []struct{ file, want string }{
		{`{}`, "want a JSON array"},
		{`[{"name":"x","preset":"nope"}]`, `unknown preset "nope"`},
		{`[{"name":"Bad Name","preset":"affiliate"}]`, "program name"},
		{`[{"name":"x","preset":"affiliate","window_days":0}]`, "window_days 0"},
		{`[{"name":"x","preset":"affiliate","fallback_url":"javascript:alert(1)"}]`, "fallback_url"},
		{`[{"name":"x","preset":"affiliate","colour":"red"}]`, `unknown field "colour"`},
		{`[{"name":"x","preset":"affiliate","rules":{"order_rate":"lots"}}]`, "rules.order_rate"},
		{`[{"name":"x","preset":"affiliate"},{"name":"x","preset":"affiliate"}]`, "defined twice"},
	} {
		_, err := ParsePrograms("programs.json", []byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.file, err, tc.want)
		}
	}
}

func TestCheckDestination(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://shop.example.com/a?b=c#d": true,
		"http://127.0.0.1:8080/":           true,
		"javascript:alert(1)":              false,
		"JAVASCRIPT:alert(1)":              false,
		"data:text/html,hi":                false,
		"//evil.example/":                  false,
		"/relative":                        false,
		"https://a.example/\r\nX: y":       false,
		"https://a b.example/":             false,
		"https://user@a.example/":          false,
		"https:///path":                    false,
		"https:opaque":                     false,
	} {
		if err := CheckDestination(u); (err == nil) != ok {
			t.Errorf("CheckDestination(%q) = %v", u, err)
		}
	}
}

// §7: exact decimals in minor units, rounded half-up once.
func TestMoney(t *testing.T) {
	for _, tc := range []struct {
		s, cur string
		minor  int64
		err    string
	}{
		{"123.45", "USD", 12345, ""}, {"7", "USD", 700, ""}, {"0.5", "CNY", 50, ""}, {"-3.10", "USD", -310, ""},
		{"1000", "JPY", 1000, ""}, {"1.234", "KWD", 1234, ""},
		{"1.234", "USD", 0, "has 3 decimals"}, {"1.5", "JPY", 0, "has 1 decimals"}, {"abc", "USD", 0, "not a decimal"},
		{"", "USD", 0, "empty"}, {"1e5", "USD", 0, "not a decimal"},
	} {
		got, err := ParseAmount(tc.s, tc.cur)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseAmount(%q, %s) err = %v, want %q", tc.s, tc.cur, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.minor {
			t.Errorf("ParseAmount(%q, %s) = %d, %v", tc.s, tc.cur, got, err)
		}
		if back := FormatAmount(got, tc.cur); back != map[string]string{"7": "7.00", "0.5": "0.50", "1000": "1000"}[tc.s] && back != tc.s {
			t.Errorf("FormatAmount(%d) = %q", got, back)
		}
	}
	for _, tc := range []struct {
		rate string
		base int64
		want int64
	}{
		{"0.26", 10000, 2600}, {"0.45", 333, 150} /* 149.85 -> 150 */, {"0.15", 10, 2} /* 1.5 -> 2 half-up */, {"0.15", 9, 1},
		{"0.10", -150, -15}, {"0.1", 5, 1} /* 0.5 -> 1 */, {"0", 12345, 0}, {"0.333333333", 300, 100},
	} {
		r, err := ParseRate(tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Apply(tc.base); got != tc.want {
			t.Errorf("%s x %d = %d, want %d", tc.rate, tc.base, got, tc.want)
		}
	}
	if s := MustRate("0.260").String(); s != "0.26" {
		t.Errorf("rate string %q", s)
	}
}
