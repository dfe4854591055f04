package clickhouse

// What the external tests of this package (package clickhouse_test, which may use chtest) need of
// its inside.
var (
	GroupsSQL = groupsSQL
	LinesSQL  = linesSQL
)
