package clickhouse

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Blocks are compressed on the way to another machine, not to this one, unless the address says.
func TestParseDSNCompression(t *testing.T) {
	for dsn, want := range map[string]bool{
		"clickhouse://ch.example.com:9000/firstclaim":                true,
		"clickhouse://10.0.0.7/firstclaim":                           true,
		"clickhouse://127.0.0.1:9000/firstclaim":                     false,
		"clickhouse://localhost/firstclaim":                          false,
		"clickhouse://[::1]:9000/firstclaim":                         false,
		"clickhouse://127.0.0.1:9000,127.0.0.2:9000/firstclaim":      false,
		"clickhouse://127.0.0.1:9000,ch.example.com/firstclaim":      true,
		"clickhouse://127.0.0.1:9000/firstclaim?compress=lz4":        true,
		"clickhouse://ch.example.com:9000/firstclaim?compress=false": false,
	} {
		o, err := ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
		if got := o.Compression != nil && o.Compression.Method == clickhouse.CompressionLZ4; got != want {
			t.Errorf("%s: compressed %v, want %v", dsn, got, want)
		}
	}
}

// Several hosts, with and without ports, user and password, database and options.
func TestParseDSNHosts(t *testing.T) {
	o, err := ParseDSN("clickhouse://app:s3cr%40t@h1:9001,h2,[::1]:9440/events?dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Addr, " "); got != "h1:9001 h2:9000 [::1]:9440" {
		t.Errorf("hosts %q", got)
	}
	if o.Auth.Username != "app" || o.Auth.Password != "s3cr@t" || o.Auth.Database != "events" || o.DialTimeout != time.Second {
		t.Errorf("options %+v", o.Auth)
	}
	if o, _ := ParseDSN("clickhouse://h1"); o.Auth.Database != DefaultDatabase || o.Addr[0] != "h1:9000" {
		t.Errorf("defaults %v %q", o.Addr, o.Auth.Database)
	}
	for _, bad := range []string{"http://h1:9000/x", "clickhouse:///db", "clickhouse://u:p@/db", "clickhouse://h1,,h2/db", "clickhouse://h 1/db"} {
		_, err := ParseDSN(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), ":p@") {
			t.Errorf("%q: the password is in the error %q", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"clickhouse://u:hunter2@h1:9000,h2/db?x=1": "clickhouse://u:xxxxx@h1:9000,h2/db?x=1",
		"clickhouse://u@h1/db":                     "clickhouse://u@h1/db",
		"clickhouse://h1/db?password=x":            "clickhouse://h1/db?password=x",
		"junk:pw@host":                             "…@host",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

// An INSERT's context ends with its parent while the INSERT is under way, and never after it is
// done: the driver may still be watching it then, and would close a pooled connection.
func TestInsertContext(t *testing.T) {
	parent, cancel := context.WithTimeout(context.Background(), time.Hour)
	ictx, done := insertContext(parent)
	if d, ok := ictx.Deadline(); !ok || d != mustDeadline(parent) {
		t.Fatalf("deadline %v %v, want the parent's", d, ok)
	}
	done()
	cancel()
	select {
	case <-ictx.Done():
		t.Fatal("the context ended with its parent after done")
	case <-time.After(50 * time.Millisecond):
	}

	parent, cancel = context.WithCancel(context.Background())
	ictx, done = insertContext(parent)
	defer done()
	cancel()
	select {
	case <-ictx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the context did not end with its parent while the INSERT was under way")
	}
	if _, ok := ictx.Deadline(); ok {
		t.Fatal("a deadline where the parent has none")
	}
}

func mustDeadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

func TestWithDatabase(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"clickhouse://h1:9000,h2:9000/firstclaim?dial_timeout=5s", "clickhouse://h1:9000,h2:9000/other?dial_timeout=5s"},
		{"clickhouse://u:p@h:9000/firstclaim", "clickhouse://u:p@h:9000/other"},
		{"clickhouse://h:9000", "clickhouse://h:9000/other"},
		{"clickhouse://h:9000/?compress=false", "clickhouse://h:9000/other?compress=false"},
	} {
		if got := WithDatabase(c.in, "other"); got != c.want {
			t.Errorf("WithDatabase(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
