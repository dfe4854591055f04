package redirect

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// Both file formats read to the same links, whose repeated names share one copy.
func TestReadLinksCompactsText(t *testing.T) {
	dir := t.TempDir()
	store, _ := NewLinks(LinksOptions{Programs: testPrograms()})
	var csv, json strings.Builder
	csv.WriteString("code,url,partner,program,campaign,status,expires_at\n")
	json.WriteString("[")
	for i := 0; i < 50; i++ {
		status, expires := "", ""
		if i%10 == 3 {
			status, expires = "Disabled", "2026-12-31T23:59:59Z"
		}
		fmt.Fprintf(&csv, "c%d,https://m.example/p/%d?x=1#f,partner%d,affiliate,spring,%s,%s\n", i, i, i%3, status, expires)
		if i > 0 {
			json.WriteString(",\n")
		}
		fmt.Fprintf(&json, `{"code":"c%d","url":"https://m.example/p/%d?x=1#f","partner":"partner%d","program":"affiliate","campaign":"spring","status":"%s"`, i, i, i%3, status)
		if expires != "" {
			fmt.Fprintf(&json, `,"expires_at":"%s"`, expires)
		}
		json.WriteString("}")
	}
	json.WriteString("]")
	for name, content := range map[string]string{"links.csv": csv.String(), "links.json": json.String()} {
		links, err := ReadLinks(writeFile(t, dir, name, content), store.Programs())
		if err != nil {
			t.Fatal(name, err)
		}
		if len(links) != 50 {
			t.Fatalf("%s: %d links", name, len(links))
		}
		for i, l := range links {
			want := Link{Code: fmt.Sprintf("c%d", i), URL: fmt.Sprintf("https://m.example/p/%d?x=1#f", i),
				PartnerID: fmt.Sprintf("partner%d", i%3), Program: "affiliate", Campaign: "spring", Status: StatusActive}
			if i%10 == 3 {
				want.Status, want.ExpiresAt = StatusDisabled, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)
			}
			if l != want {
				t.Errorf("%s line %d: %+v, want %+v", name, i+2, l, want)
			}
			if same := links[i%3]; unsafe.StringData(l.PartnerID) != unsafe.StringData(same.PartnerID) ||
				unsafe.StringData(l.Campaign) != unsafe.StringData(links[0].Campaign) {
				t.Errorf("%s line %d: partner or campaign not shared", name, i+2)
			}
		}
	}
}
