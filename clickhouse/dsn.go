package clickhouse

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// DefaultDatabase is used when a DSN names none.
const DefaultDatabase = "firstclaim"

// ParseDSN reads a ClickHouse address for the native protocol:
//
//	clickhouse://[user[:password]@]host[:port][,host[:port]...]/database[?options]
//
// With several hosts a connection goes to the first that answers and moves on when one is down
// (the options are clickhouse-go's: dial_timeout, compress, secure, connection_open_strategy, ...).
// Without a database it is DefaultDatabase; without a port, 9000. Blocks are LZ4-compressed unless
// every host is a loopback address or the options say otherwise (compress=lz4, compress=false).
func ParseDSN(dsn string) (*clickhouse.Options, error) {
	bad := func(why string) error {
		return fmt.Errorf("ClickHouse address %q: %s; want clickhouse://host:port/database", Redact(dsn), why)
	}
	rest, ok := strings.CutPrefix(dsn, "clickhouse://")
	if !ok {
		return nil, bad("the scheme is not clickhouse://")
	}
	authority, pathQuery := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		authority, pathQuery = rest[:i], rest[i:]
	}
	user := ""
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		user, authority = authority[:i+1], authority[i+1:]
	}
	if authority == "" {
		return nil, bad("no host")
	}
	var hosts []string
	allLoopback := true
	for _, h := range strings.Split(authority, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			host, port = strings.Trim(h, "[]"), "9000"
		}
		if host == "" || strings.ContainsAny(host, " /\\") {
			return nil, bad(fmt.Sprintf("host %q", h))
		}
		hosts = append(hosts, net.JoinHostPort(host, port))
		allLoopback = allLoopback && loopback(host)
	}
	u, err := url.Parse("clickhouse://" + user + "placeholder" + pathQuery)
	if err != nil {
		return nil, bad(err.Error())
	}
	if strings.Trim(u.Path, "/") == "" {
		u.Path = "/" + DefaultDatabase
	}
	q := u.Query()
	if q.Get("dial_timeout") == "" {
		q.Set("dial_timeout", "2s")
	}
	// On a cluster (and harmless on one server): an INSERT through a Distributed table returns once
	// a replica of every shard has stored its rows, not when they are queued on the receiving
	// server's disk; and a shard is written on its replica, not on the receiving server's own, the
	// same replica that reads choose with the load_balancing = in_order of the user's profile
	// (docs/deploy.md; a string setting, which the driver cannot send to 18.16), so a report reads
	// what the sink has just written. The address may set each otherwise.
	for k, v := range clusterDefaults {
		if q.Get(k) == "" {
			q.Set(k, v)
		}
	}
	if q.Get("compress") == "" && !allLoopback {
		q.Set("compress", "lz4")
	}
	u.RawQuery = q.Encode()
	u.Host = strings.Join(hosts, ",")
	opts, err := clickhouse.ParseDSN(u.String())
	if err != nil {
		return nil, fmt.Errorf("ClickHouse address %q: %w", Redact(dsn), err)
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 4
	}
	return opts, nil
}

var clusterDefaults = map[string]string{
	"insert_distributed_sync":  "1",
	"prefer_localhost_replica": "0",
}

// loopback reports whether host is this machine. Data sent to a ClickHouse on the same machine is
// not compressed unless the address asks for it: compressing costs CPU on both sides (about a
// quarter of a microsecond a click here, and ClickHouse's work to undo it) and saves no network.
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// Redact returns dsn with its password hidden, for messages and logs.
func Redact(dsn string) string {
	rest, ok := strings.CutPrefix(dsn, "clickhouse://")
	if !ok {
		if i := strings.LastIndexByte(dsn, '@'); i >= 0 {
			return "…@" + dsn[i+1:]
		}
		return dsn
	}
	end := len(rest)
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		end = i
	}
	at := strings.LastIndexByte(rest[:end], '@')
	if at < 0 {
		return dsn
	}
	user, _, hasPass := strings.Cut(rest[:at], ":")
	if !hasPass {
		return dsn
	}
	return "clickhouse://" + user + ":xxxxx" + rest[at:]
}

// WithDatabase returns dsn naming database db instead of its own (or none), its hosts and options
// kept.
func WithDatabase(dsn, db string) string {
	rest := strings.TrimPrefix(dsn, "clickhouse://")
	hosts, query, _ := strings.Cut(rest, "?")
	hosts, _, _ = strings.Cut(hosts, "/")
	out := "clickhouse://" + hosts + "/" + db
	if query != "" {
		out += "?" + query
	}
	return out
}

// DatabaseOf returns the database a DSN names (DefaultDatabase when none).
func DatabaseOf(dsn string) (string, error) {
	opts, err := ParseDSN(dsn)
	if err != nil {
		return "", err
	}
	return opts.Auth.Database, nil
}

// quoteIdent quotes a database or table name for SQL.
func quoteIdent(s string) string {
	return "`" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "`", "\\`") + "`"
}
