package clickhouse

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Every statement the product sends to ClickHouse is a file here, embedded in the binary:
// sql/migrations/NNN_name.sql are the schema's versioned steps; the other folders hold the queries,
// by who asks them (sql/report/clicks.sql is Query("report/clicks")).
//
//go:embed sql
var sqlFiles embed.FS

// Migration is one versioned step of the schema: the file sql/migrations/NNN_name.sql.
type Migration struct {
	Version uint32
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^([0-9]{3})_([a-z0-9_]+)\.sql$`)

// Migrations returns the schema's steps in version order.
func Migrations() []Migration {
	ents, err := fs.ReadDir(sqlFiles, "sql/migrations")
	if err != nil {
		panic(err) // embedded at build time
	}
	var out []Migration
	for _, e := range ents {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			panic(fmt.Sprintf("migration file %q is not named NNN_name.sql", e.Name()))
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		data, _ := sqlFiles.ReadFile(path.Join("sql/migrations", e.Name()))
		out = append(out, Migration{Version: uint32(v), Name: m[2], SQL: string(data)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return int(a.Version) - int(b.Version) })
	return out
}

// Query returns the embedded query sql/NAME.sql without its trailing ';' (the driver sends one
// statement). It panics on a name that is not embedded: names are constants of this package.
func Query(name string) string {
	data, err := sqlFiles.ReadFile("sql/" + name + ".sql")
	if err != nil {
		panic(fmt.Sprintf("no embedded query %q", name))
	}
	return strings.TrimSuffix(strings.TrimSpace(string(data)), ";")
}

// QueryNames lists the embedded queries other than the migrations (folder/name, without .sql),
// for the tests that run every one of them on both engines.
func QueryNames() []string {
	var out []string
	fs.WalkDir(sqlFiles, "sql", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sql") && !strings.HasPrefix(p, "sql/migrations/") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(p, "sql/"), ".sql"))
		}
		return nil
	})
	return out
}

// template returns the embedded query sql/NAME.sql without its comment lines: a query whose
// placeholders ({range}, {where}) are filled in, which its comments name too.
func template(name string) string { return uncomment(Query(name)) }

func uncomment(text string) string {
	var body []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") && line != "" {
			body = append(body, line)
		}
	}
	return strings.Join(body, "\n")
}

// fragment returns the embedded text sql/NAME.fragment: a piece shared by several queries.
func fragment(name string) string {
	data, err := sqlFiles.ReadFile("sql/" + name + ".fragment")
	if err != nil {
		panic(fmt.Sprintf("no embedded fragment %q", name))
	}
	return uncomment(string(data))
}

// Statements splits SQL text into statements: a ';' at the end of a line ends one, and
// statements made only of comments are left out. It is the same rule the ch-current tool uses.
func Statements(text string) []string {
	var out []string
	for _, part := range statementEnd.Split(text, -1) {
		if hasCode(part) {
			out = append(out, strings.TrimSpace(part))
		}
	}
	return out
}

var statementEnd = regexp.MustCompile(`;[ \t]*(?:\n|$)`)

func hasCode(s string) bool {
	for _, line := range strings.Split(s, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
			return true
		}
	}
	return false
}
