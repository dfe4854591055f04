package clickhouse_test

import (
	"context"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/sink"
)

func TestPruneDropsOldMonthsAndDeletesOldRows(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	var clicks []firstclaim.Click
	for _, ts := range []time.Time{
		time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC), // a month wholly before the cutoff: dropped
		time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC),  // the cutoff's month, before it: deleted
		time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC), // the cutoff's month, after it: kept
		time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),  // kept
	} {
		clicks = append(clicks, sampleClick(len(clicks), ts))
	}
	assoc := firstclaim.Association{ID: "a-old", TS: time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC), Program: "p", AccountID: "x", Kind: "login"}
	if err := db.Events().Write(ctx, &sink.Batch{Clicks: clicks, Associations: []firstclaim.Association{assoc}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Conn().Exec(ctx, "INSERT INTO orders (order_id, account_id, ts, amount) SELECT 'o-old', 'x', toDateTime('2020-01-01 00:00:00'), 100"); err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2025, 2, 15, 0, 0, 0, 0, time.UTC)
	res, err := db.Prune(ctx, clickhouse.EventTables(), cutoff, 400)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || len(res[0].DroppedPartitions) != 1 || res[0].DroppedPartitions[0] != "202501" || !res[0].Deleted || res[0].TTL {
		t.Fatalf("result %+v (18.16 has no TTL)", res)
	}
	// The DELETE is a mutation the server finishes in the background.
	deadline := time.Now().Add(30 * time.Second)
	for chtest.Count(t, db, "SELECT count() FROM clicks") != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("clicks left: %d, want the 2 after the cutoff", chtest.Count(t, db, "SELECT count() FROM clicks"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE ts < toDateTime('2025-02-15 00:00:00')"); n != 0 {
		t.Fatalf("%d old clicks left", n)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM associations"); n != 0 {
		t.Fatalf("%d old associations left", n)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM orders"); n != 1 {
		t.Fatal("prune touched orders")
	}
	if _, err := db.Prune(ctx, []string{"clicks; DROP TABLE orders"}, cutoff, 0); err == nil {
		t.Fatal("a hostile table name was accepted")
	}
	for v, want := range map[string]bool{"18.16.1": false, "19.5.3.8": false, "19.6.2.11": true, "26.5.1.1": true, "garbage": false} {
		if clickhouse.HasTTL(v) != want {
			t.Errorf("HasTTL(%q) = %v", v, !want)
		}
	}
}
