package clickhouse

import "context"

// What the external tests of this package (package clickhouse_test, which may use chtest) need of
// its inside.
var (
	GroupsSQL = groupsSQL
	LinesSQL  = linesSQL
)

// ReportSetting reads a setting as a report query sees it.
func (db *DB) ReportSetting(ctx context.Context, name string) (string, error) {
	ctx, cancel := db.readContext(ctx)
	defer cancel()
	var v string
	err := db.conn.QueryRow(ctx, "SELECT value FROM system.settings WHERE name = '"+name+"'").Scan(&v)
	return v, err
}
