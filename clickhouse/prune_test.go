package clickhouse_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
	"github.com/firstclaim/firstclaim/sink"
)

func TestPruneDropsOldPartitionsAndDeletesOldRows(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	var clicks []firstclaim.Click
	// Clicks are kept in partitions of a day (migration 013), sign-ups in partitions of a month.
	for _, ts := range []time.Time{
		time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC),  // a day wholly before the cutoff: dropped
		time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC),   // likewise, in the cutoff's month
		time.Date(2025, 2, 15, 6, 0, 0, 0, time.UTC),  // the cutoff's day, before it: deleted
		time.Date(2025, 2, 15, 18, 0, 0, 0, time.UTC), // the cutoff's day, after it: kept
		time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC),  // kept
		time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC),   // kept
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
	cutoff := time.Date(2025, 2, 15, 12, 0, 0, 0, time.UTC)
	res, err := db.Prune(ctx, clickhouse.EventTables(), cutoff, 400)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 || !slices.Equal(res[0].DroppedPartitions, []string{"20250110", "20250203"}) || !res[0].Deleted || res[0].TTL {
		t.Fatalf("result %+v (18.16 has no TTL)", res)
	}
	if res[2].Table != "associations" || !slices.Equal(res[2].DroppedPartitions, []string{"202412"}) || res[2].Deleted {
		t.Fatalf("sign-ups: %+v, want December 2024 dropped and nothing deleted", res[2])
	}
	// The DELETE is a mutation the server finishes in the background.
	deadline := time.Now().Add(30 * time.Second)
	for chtest.Count(t, db, "SELECT count() FROM clicks") != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("clicks left: %d, want the 3 after the cutoff", chtest.Count(t, db, "SELECT count() FROM clicks"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// A cutoff at midnight drops the days before it and deletes nothing.
	res, err = db.Prune(ctx, []string{"clicks"}, time.Date(2025, 2, 20, 0, 0, 0, 0, time.UTC), 0)
	if err != nil || !slices.Equal(res[0].DroppedPartitions, []string{"20250215"}) || res[0].Deleted {
		t.Fatalf("at midnight: %+v, %v; want the day of the 15th dropped and no DELETE", res, err)
	}
	if n := chtest.Count(t, db, "SELECT count() FROM clicks WHERE ts < toDateTime('2025-02-20 00:00:00')"); n != 0 {
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
