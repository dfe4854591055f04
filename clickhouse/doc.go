// Package clickhouse is the product's one adapter to ClickHouse, and the only package (with the
// binary that wires it) that imports the driver. It owns:
//
//   - connecting: the DSN, one host or several with failover (ParseDSN, Open);
//   - the schema: every table's versioned migrations and the record of which ran (Migrate);
//   - every statement, as a .sql file under sql/ embedded in the binary (Query, Migrations), each
//     written to run on ClickHouse 18.16 and on current releases, and tested on both;
//   - writing: batch inserts with the errors a retry cannot fix told apart (classify), and the
//     event tables' writer the sink calls (Events), whose columns are declared once in the
//     firstclaim package (firstclaim.ClickColumns and the like);
//   - the stores the other packages consume through their own small interfaces: the attribution
//     job's loader and line store (LoadInput, SaveLines, Import), report.Store (Groups, Lines),
//     postback.Store and postback.StatementStore, and pruning old events (Prune).
//
// It holds no product rules: which dimensions a report has and what a metric means is report's,
// what a program pays is attribution's. A DB and what it returns are safe for concurrent use.
package clickhouse
