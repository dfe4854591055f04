package ndjson_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/ndjson"
	"github.com/firstclaim/firstclaim/sink"
)

// Through the sink, every record becomes one line holding its table's JSON columns.
func TestWritesOneLineARecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clicks.ndjson")
	n, err := ndjson.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sink.New(n, sink.Options{BatchSize: 10, FlushInterval: 10 * time.Millisecond, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	ts := time.Unix(1_790_000_000, 123_000_000)
	for i := 0; i < 3; i++ {
		c := firstclaim.Click{ID: "click-" + string(rune('a'+i)), TS: ts, Link: "summer", PartnerID: "pa", Program: "affiliate",
			Outcome: firstclaim.OutcomeClaimed, IP: netip.MustParseAddr("192.0.2.1"), Visitor: 255, Bot: i == 2,
			UserAgent: `agent "<quoted>"`}
		s.Record(firstclaim.AppendClick(nil, &c))
	}
	a := firstclaim.Association{ID: "as-1", Program: "affiliate", AccountID: "acct", Kind: firstclaim.KindRegister, TS: time.Unix(1_790_000_000, 0)}
	s.Record(firstclaim.AppendAssociation(nil, &a))
	m := firstclaim.Impression{ID: "im-1", TS: ts, Link: "summer", Known: true}
	s.Record(firstclaim.AppendImpression(nil, &m))
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), data)
	}
	var c map[string]any
	if err := json.Unmarshal([]byte(lines[2]), &c); err != nil {
		t.Fatal(err)
	}
	if c["event"] != "click" || c["click_id"] != "click-c" || c["outcome"] != "claimed" || c["ts"] != "2026-09-21T14:13:20.123Z" ||
		c["bot"] != true || c["visitor"] != "ff" || c["user_agent"] != `agent "<quoted>"` || c["ip"] != "192.0.2.1" {
		t.Fatalf("click line %s", lines[2])
	}
	// Every column with a JSON form, and no other.
	want := 1 // event
	for _, col := range firstclaim.ClickColumns() {
		if col.JSON != nil {
			want++
			if _, ok := c[col.Name]; !ok {
				t.Errorf("the click line lacks %s", col.Name)
			}
		}
	}
	if len(c) != want {
		t.Errorf("the click line has %d fields, want %d", len(c), want)
	}
	var as, im map[string]any
	json.Unmarshal([]byte(lines[3]), &as)
	json.Unmarshal([]byte(lines[4]), &im)
	if as["event"] != "association" || as["account_id"] != "acct" || as["kind"] != "register" || as["claimed_at"] != "" {
		t.Fatalf("association line %s", lines[3])
	}
	if im["event"] != "impression" || im["known_link"] != true || im["link"] != "summer" {
		t.Fatalf("impression line %s", lines[4])
	}
}
