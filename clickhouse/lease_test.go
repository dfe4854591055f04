package clickhouse_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim/clickhouse"
	"github.com/firstclaim/firstclaim/clickhouse/chtest"
)

// Two attribution jobs started at once for one program: one holds the lease, the other is told who
// holds it; once released, the program can be taken again. On one server and on the cluster.
func TestLeaseOneJobAtATime(t *testing.T) {
	_, one := chtest.Database(t)
	_, _, cl := chtest.ClusterDatabase(t)
	for name, db := range map[string]*clickhouse.DB{"one server": one, "cluster": cl} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			leases := make([]*clickhouse.Lease, 3)
			errs := make([]error, 3)
			for i := range leases {
				wg.Add(1)
				go func() {
					defer wg.Done()
					leases[i], errs[i] = db.TakeLease(ctx, "affiliate", "job-"+string(rune('a'+i)), time.Minute)
				}()
			}
			wg.Wait()
			var held *clickhouse.Lease
			for i, err := range errs {
				switch {
				case err == nil && held == nil:
					held = leases[i]
				case err == nil:
					t.Fatalf("two jobs hold the lease: %s and %s", held.Holder, leases[i].Holder)
				case !errors.Is(err, clickhouse.ErrLeaseHeld) || !strings.Contains(err.Error(), "is being attributed by job-"):
					t.Fatalf("the refused job's error: %v", err)
				}
			}
			if held == nil {
				t.Fatalf("no job holds the lease: %v", errs)
			}
			if err := held.Check(ctx); err != nil {
				t.Fatalf("the holder's check: %v", err)
			}
			// Another program is free meanwhile.
			other, err := db.TakeLease(ctx, "refer-a-friend", "job-x", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			other.Release(ctx)
			// A later job is refused at once, naming the holder.
			if _, err := db.TakeLease(ctx, "affiliate", "job-late", time.Minute); err == nil || !strings.Contains(err.Error(), held.Holder) {
				t.Fatalf("a later job: err = %v", err)
			}
			if err := held.Release(ctx); err != nil {
				t.Fatal(err)
			}
			again, err := db.TakeLease(ctx, "affiliate", "job-next", time.Minute)
			if err != nil {
				t.Fatalf("after release: %v", err)
			}
			again.Release(ctx)
		})
	}
}

// A job that died blocks the program until its lease lapses; a job whose lease was taken over (an
// earlier standing lease appears) learns it before writing.
func TestLeaseLapsesAndIsChecked(t *testing.T) {
	_, db := chtest.Database(t)
	ctx := context.Background()
	now := time.Now()
	// A dead job's last renewal, lapsed a second ago, and a live one's on another program.
	chtest.Exec(t, db, "INSERT INTO attribution_leases (program, taken_ns, holder, expires_ns, released) SELECT ?, toUInt64(?), 'dead', toUInt64(?), 0 UNION ALL SELECT ?, toUInt64(?), 'alive', toUInt64(?), 0",
		"affiliate", uint64(now.Add(-time.Hour).UnixNano()), uint64(now.Add(-time.Second).UnixNano()),
		"ambassador", uint64(now.Add(-time.Minute).UnixNano()), uint64(now.Add(time.Minute).UnixNano()))
	l, err := db.TakeLease(ctx, "affiliate", "job-1", time.Minute)
	if err != nil {
		t.Fatalf("a lapsed lease still blocks: %v", err)
	}
	if _, err := db.TakeLease(ctx, "ambassador", "job-2", time.Minute); err == nil || !strings.Contains(err.Error(), "by alive") {
		t.Fatalf("a live lease of a job that may have died: err = %v", err)
	}
	chtest.Exec(t, db, "INSERT INTO attribution_leases (program, taken_ns, holder, expires_ns, released) SELECT ?, toUInt64(?), 'usurper', toUInt64(?), 0",
		"affiliate", uint64(now.Add(-time.Minute).UnixNano()), uint64(now.Add(time.Minute).UnixNano()))
	if err := l.Check(ctx); !errors.Is(err, clickhouse.ErrLeaseHeld) || !strings.Contains(err.Error(), "usurper") {
		t.Fatalf("check after another lease took precedence: %v", err)
	}
	if err := l.Check(ctx); err == nil {
		t.Fatal("a lost lease is held again")
	}
	l.Release(ctx)
}
