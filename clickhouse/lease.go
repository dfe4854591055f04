package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// A Lease lets one attribution job at a time write a program's lines, across machines, kept in
// ClickHouse (the table attribution_leases), so it holds on a cluster as on one server. Taking
// one: read the program's standing leases; if another holds one, refuse; otherwise write ours,
// wait LeaseSettle (two jobs that wrote at the same moment, and a replica's lag, both settle in it)
// and read again: the earliest standing lease wins, and the other job withdraws. A lease is renewed
// while the job runs and lapses LeaseTTL after its last renewal, so a job that died stops blocking
// the program then. The job checks that it still holds the lease before it writes. Times are
// ClickHouse's (this machine's clock moved by its offset from the server's, read once to the
// second), so jobs on machines whose clocks disagree still agree on who holds a lease.
type Lease struct {
	db      *DB
	Program string
	Holder  string
	taken   uint64
	ttl     time.Duration
	now     func() time.Time // ClickHouse's clock, read through this machine's

	mu      sync.Mutex
	expires time.Time // of the last renewal written
	lost    error     // why the lease is no longer held, once it is not
	stop    context.CancelFunc
	done    chan struct{}
}

// LeaseSettle is how long a job waits after writing its lease before it reads who holds the program.
var LeaseSettle = time.Second

// ErrLeaseHeld is the error when another job holds the program (errors.Is).
var ErrLeaseHeld = errors.New("another attribution job holds the program")

type standingLease struct {
	taken   uint64
	holder  string
	expires uint64
}

func (db *DB) standingLeases(ctx context.Context, program string, at time.Time) ([]standingLease, error) {
	var out []standingLease
	err := db.each(ctx, "the program's leases", Query("lease/standing"), []any{program, uint64(at.UnixNano())}, func(rows driver.Rows) error {
		var l standingLease
		err := rows.Scan(&l.taken, &l.holder, &l.expires)
		out = append(out, l)
		return err
	})
	return out, err
}

func heldBy(program string, l standingLease) error {
	if program == MigrateLease {
		return fmt.Errorf("%w: the database is being migrated by %s since %s (its lease lapses at %s unless renewed); wait for that migrate to end, or for its lease to lapse if it died, and run migrate again",
			ErrLeaseHeld, l.holder, time.Unix(0, int64(l.taken)).UTC().Format(time.RFC3339), time.Unix(0, int64(l.expires)).UTC().Format(time.RFC3339))
	}
	return fmt.Errorf("%w: %s is being attributed by %s since %s (its lease lapses at %s unless renewed); wait for that job to end, or for its lease to lapse if it died",
		ErrLeaseHeld, program, l.holder, time.Unix(0, int64(l.taken)).UTC().Format(time.RFC3339), time.Unix(0, int64(l.expires)).UTC().Format(time.RFC3339))
}

func (db *DB) writeLease(ctx context.Context, program, holder string, taken uint64, expires time.Time, released bool) error {
	return db.insert(ctx, "INSERT INTO attribution_leases (program, taken_ns, holder, expires_ns, released)", 1, func(bt driver.Batch, _ int) error {
		return bt.Append(program, taken, holder, uint64(expires.UnixNano()), u8(released))
	})
}

// ThisProcess names this process in another's message about a lease it holds: host and pid.
func ThisProcess() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d", host, os.Getpid())
}

// TakeLease takes the lease of a program for holder (a name for messages: host and process), for
// ttl after each renewal; it renews it every ttl/3 until Release. It fails with ErrLeaseHeld,
// naming the holder, when another job holds the program.
func (db *DB) TakeLease(ctx context.Context, program, holder string, ttl time.Duration) (*Lease, error) {
	server, err := db.Now(ctx)
	if err != nil {
		return nil, fmt.Errorf("cannot read ClickHouse's clock: %w", err)
	}
	offset := server.Sub(time.Now().Truncate(time.Second))
	clock := func() time.Time { return time.Now().Add(offset) }
	now := clock()
	standing, err := db.standingLeases(ctx, program, now)
	if err != nil {
		return nil, err
	}
	if len(standing) > 0 {
		return nil, heldBy(program, standing[0])
	}
	l := &Lease{db: db, Program: program, Holder: holder, taken: uint64(now.UnixNano()), ttl: ttl, now: clock, expires: now.Add(ttl)}
	if err := db.writeLease(ctx, program, holder, l.taken, l.expires, false); err != nil {
		return nil, fmt.Errorf("cannot take the lease of %s: %w", program, err)
	}
	select {
	case <-time.After(LeaseSettle):
	case <-ctx.Done():
		l.release(context.WithoutCancel(ctx))
		return nil, ctx.Err()
	}
	standing, err = db.standingLeases(ctx, program, clock())
	if err == nil && (len(standing) == 0 || standing[0].taken != l.taken || standing[0].holder != holder) {
		if len(standing) == 0 {
			err = fmt.Errorf("cannot take the lease of %s: it is not there after it was written", program)
		} else {
			err = heldBy(program, standing[0])
		}
	}
	if err != nil {
		l.release(context.WithoutCancel(ctx))
		return nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	l.stop, l.done = stop, make(chan struct{})
	go l.renew(rctx)
	return l, nil
}

func (l *Lease) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		exp := l.now().Add(l.ttl)
		err := l.db.writeLease(ctx, l.Program, l.Holder, l.taken, exp, false)
		l.mu.Lock()
		if err == nil && l.lost == nil {
			l.expires = exp
		}
		l.mu.Unlock()
	}
}

// Check returns nil while the lease is held: renewed in time, and still the earliest standing
// lease of the program. Call it before writing.
func (l *Lease) Check(ctx context.Context) error {
	l.mu.Lock()
	exp, lost := l.expires, l.lost
	l.mu.Unlock()
	if lost != nil {
		return lost
	}
	if exp.Sub(l.now()) < l.ttl/6 {
		return l.lose(fmt.Errorf("the lease of %s lapsed: it could not be renewed since %s", l.Program, exp.Add(-l.ttl).Format(time.RFC3339)))
	}
	standing, err := l.db.standingLeases(ctx, l.Program, l.now())
	if err != nil {
		return err
	}
	if len(standing) == 0 || standing[0].taken != l.taken || standing[0].holder != l.Holder {
		if len(standing) == 0 {
			return l.lose(fmt.Errorf("the lease of %s is gone", l.Program))
		}
		return l.lose(heldBy(l.Program, standing[0]))
	}
	return nil
}

func (l *Lease) lose(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = err
	}
	return l.lost
}

// Release stops renewing and gives the program back.
func (l *Lease) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	return l.release(ctx)
}

func (l *Lease) release(ctx context.Context) error {
	if err := l.db.writeLease(ctx, l.Program, l.Holder, l.taken, l.now(), true); err != nil {
		return fmt.Errorf("cannot release the lease of %s (it lapses by itself at %s): %w", l.Program, l.expires.Format(time.RFC3339), err)
	}
	return nil
}
