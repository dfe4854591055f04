package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	env := &environment{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), getenv: func(string) string { return "" }}
	code := run(context.Background(), args, env)
	return code, stdout.String(), stderr.String()
}

// firstclaim attribute --input prints exactly the lines of the offline contract.
func TestAttributeInputPrintsTheContract(t *testing.T) {
	dir := filepath.Join("..", "..", "attribution", "testdata", "cases", "r3-base-and-refunds")
	want, err := os.ReadFile(filepath.Join(dir, "want.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "lines.csv")
	code, stdout, stderr := runCmd(t, "attribute", "--program", "ambassador-2025", "--as-of", "2026-06-01T00:00:00Z", "--input", dir, "--out", out)
	if code != 0 || stdout != string(want) {
		t.Fatalf("exit %d, stderr %s\nstdout:\n%s\nwant:\n%s", code, stderr, stdout, want)
	}
	f, _ := os.Open(out)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil || len(recs) != 1+strings.Count(string(want), "\n") || recs[0][0] != "program" || recs[4][2] != "clawback" || recs[4][9] != "-135.00" {
		t.Fatalf("CSV: %v %v", recs, err)
	}
	// On a terminal (forced here) the run shows where it is.
	if code, _, stderr := runCmd(t, "attribute", "--program", "ambassador-2025", "--as-of", "2026-06-01T00:00:00Z", "--input", dir,
		"--progress", "always"); code != 0 || !strings.Contains(stderr, "attributing 6 orders") || !strings.Contains(stderr, "done") {
		t.Fatalf("progress: exit %d, stderr %q", code, stderr)
	}
	// Mistakes are named.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attribute", "--program", "nope", "--input", dir}, `--program "nope": no such program`},
		{[]string{"attribute", "--program", "affiliate", "--as-of", "yesterday", "--input", dir}, `--as-of "yesterday"`},
		{[]string{"attribute", "--program", "affiliate"}, "--input DIR or --clickhouse DSN is required"},
		{[]string{"attribute", "--program", "affiliate", "--input", t.TempDir() + "/missing"}, "cannot read input folder"},
	} {
		if code, _, stderr := runCmd(t, tc.args...); code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

// import, then attribute from ClickHouse: the same lines as from the files; a bad file is refused
// whole and loads nothing.
func TestImportThenAttributeFromClickHouse(t *testing.T) {
	dsn, conn := chtest.Database(t)
	dir := filepath.Join("..", "..", "attribution", "testdata", "cases", "r5-reasons")
	for _, table := range []string{"accounts", "partners", "associations", "orders"} {
		code, stdout, stderr := runCmd(t, "import", "--clickhouse", dsn, table, filepath.Join(dir, table+".csv"))
		if code != 0 || !strings.Contains(stdout, "imported") {
			t.Fatalf("import %s: exit %d %s %s", table, code, stdout, stderr)
		}
	}
	// A bad line refuses the whole file.
	bad := filepath.Join(t.TempDir(), "orders.csv")
	os.WriteFile(bad, []byte("order_id,account_id,ts,product,category,billing,kind,currency,amount\nz1,a,2026-03-02T00:00:00Z,ecs,compute,prepaid,new,CNY,1\nz2,a,2026-03-02,ecs,compute,prepaid,new,CNY,1\n"), 0o644)
	code, _, stderr := runCmd(t, "import", "--clickhouse", dsn, "orders", bad)
	if code == 0 || !strings.Contains(stderr, "orders.csv:3: ts:") {
		t.Fatalf("bad file: exit %d, %s", code, stderr)
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM orders WHERE order_id = 'z1'"); n != 0 {
		t.Fatal("a refused file was half-loaded")
	}
	if code, _, stderr := runCmd(t, "import", "--clickhouse", dsn, "clicks", bad); code == 0 || !strings.Contains(stderr, `cannot import "clicks"`) {
		t.Fatalf("unknown table: %d %s", code, stderr)
	}

	progs := filepath.Join(dir, "programs.json")
	out := filepath.Join(t.TempDir(), "lines.ndjson")
	code, stdout, stderr := runCmd(t, "attribute", "--clickhouse", dsn, "--programs", progs, "--program", "ambassador-min",
		"--as-of", "2026-06-01T00:00:00Z", "--out", out)
	if code != 0 || !strings.Contains(stdout, "11 lines (1 approved, 0 pending, 10 rejected)") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, fromFiles, _ := runCmd(t, "attribute", "--input", dir, "--programs", progs, "--program", "ambassador-min", "--as-of", "2026-06-01T00:00:00Z")
	got, _ := os.ReadFile(out)
	if string(got) != fromFiles {
		t.Fatalf("ClickHouse:\n%s\nfiles:\n%s", got, fromFiles)
	}
	if n := chtest.Count(t, conn, "SELECT uniqExact(line, ref) FROM commissions WHERE program = 'ambassador-min'"); n != 11 {
		t.Fatalf("commissions holds %d lines", n)
	}
	// While another job attributes the program, a second is refused and writes nothing.
	rows := chtest.Count(t, conn, "SELECT count() FROM commissions")
	other, err := conn.TakeLease(context.Background(), "ambassador-min", "the other job", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCmd(t, "attribute", "--clickhouse", dsn, "--programs", progs, "--program", "ambassador-min", "--as-of", "2026-06-01T00:00:00Z")
	if code == 0 || !strings.Contains(stderr, "ambassador-min is being attributed by the other job since") {
		t.Fatalf("a second job at once: exit %d, %s", code, stderr)
	}
	if n := chtest.Count(t, conn, "SELECT count() FROM commissions"); n != rows {
		t.Fatalf("the refused job wrote %d rows", n-rows)
	}
	other.Release(context.Background())
	if code, _, stderr := runCmd(t, "attribute", "--clickhouse", dsn, "--programs", progs, "--program", "ambassador-min", "--as-of", "2026-06-01T00:00:00Z"); code != 0 {
		t.Fatalf("after the other job ended: exit %d, %s", code, stderr)
	}
}
