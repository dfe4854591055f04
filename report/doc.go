// Package report answers what marketers and partner managers ask: clicks, unique visitors,
// claims, protected clicks, bots, duplicates, sign-ups and log-ins, orders and commission, by any
// of the dimensions a click has, over a time range, computed in ClickHouse with each event id
// counted once. The CLI, the JSON API and the web page all go through Run.
//
// Dimension and filter names come from a fixed list and map to columns, so no request text ever
// becomes SQL; filter values are bound as parameters. A Query with Partner set is scoped to that
// partner whatever else it asks. Safe for concurrent use.
package report
