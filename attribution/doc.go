// Package attribution turns associations and orders into commission lines under a program's
// rules (docs/rules.md). The rules are pure functions over plain values: they take the time as an
// argument (as-of), never read the clock, and do no I/O. The same engine reads ClickHouse or a
// folder of CSV/NDJSON files (the offline contract), so anyone can check a program's rules without
// a database.
//
// Programs, presets and the values they hold are immutable once loaded and safe to share.
package attribution
