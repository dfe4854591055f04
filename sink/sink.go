package sink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/firstclaim/firstclaim"
)

// Batch is a set of decoded records handed to a Writer.
type Batch struct {
	Clicks       []firstclaim.Click
	Associations []firstclaim.Association
	Impressions  []firstclaim.Impression
	UnknownCodes []firstclaim.UnknownCode

	// Retry is set when the records may have been written before: a retry, or a replay from the
	// spool. The store marks such rows, so queries know where repeats can be.
	Retry bool
}

// Len is the number of records in b.
func (b *Batch) Len() int {
	return len(b.Clicks) + len(b.Associations) + len(b.Impressions) + len(b.UnknownCodes)
}

func (b *Batch) reset() {
	clear(b.Clicks)
	clear(b.Associations)
	clear(b.Impressions)
	clear(b.UnknownCodes)
	b.Clicks, b.Associations, b.Impressions, b.UnknownCodes = b.Clicks[:0], b.Associations[:0], b.Impressions[:0], b.UnknownCodes[:0]
}

// Writer stores a batch: ClickHouse, an NDJSON file. Write must store all of b or return an
// error; a retried batch may already be partly stored, so the store must tolerate repeats (every
// record carries its id). The strings of b's clicks refer to the sink's buffer of encoded records
// (firstclaim.DecodeClickView) and are good until Write returns, or for a Stream until its Commit
// or Abort returns: a Writer that keeps one longer copies it.
type Writer interface {
	Write(ctx context.Context, b *Batch) error
}

// StreamWriter is a Writer that also takes one batch in slices, so that no step of writing a
// large batch holds the CPU for long: the sink decodes, enriches and hands over a few hundred
// records at a time, and request handlers run in between. The slices of one Stream are one batch
// to the store (ClickHouse: one INSERT).
type StreamWriter interface {
	Writer
	Begin(ctx context.Context, retry bool) Stream
}

// Stream takes the slices of one batch in order; nothing reaches the store before the first Add.
// The sink reuses b once Add returns: Add copies what it keeps. Commit stores everything added or
// returns an error; after an error from Add or Commit the sink calls Abort and writes the whole
// batch again later.
type Stream interface {
	Add(b *Batch) error
	Commit() error
	Abort()
}

// Enricher fills the derived fields of a batch's clicks (geography, device, duplicates, the
// stored address) before it is written. It runs on the sink's worker, off the request path.
type Enricher interface {
	Enrich(b *Batch)
}

// permanentError marks an error that retrying cannot fix without an operator (a missing table,
// a type mismatch).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not retryable: the batch stays spooled and is retried only at the longest
// backoff, so an operator's fix (say, running migrate) still lets it through.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Options configure a Sink. Zero values take the defaults.
type Options struct {
	BatchSize     int           // records per batch; default 50,000
	FlushInterval time.Duration // a batch leaves at least this often; default 1 s
	QueueBytes    int           // in-memory queue; default 64 MiB
	SendTimeout   time.Duration // one write attempt; default 10 s
	MinBackoff    time.Duration // default 100 ms
	MaxBackoff    time.Duration // default 30 s

	// Dir holds the spool. Without it, records wait in memory while the writer fails and are
	// dropped (and counted) when memory is full.
	Dir           string
	OverflowBytes int           // hand-off from Record to the spool when the queue is full; default 8 MiB
	SpoolMaxBytes int64         // default 1 GiB
	SegmentBytes  int64         // default 32 MiB
	FsyncInterval time.Duration // default 1 s

	Enricher Enricher
	Metrics  *metrics.Set
	Logger   *slog.Logger
}

func (o *Options) defaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = 50_000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.QueueBytes <= 0 {
		o.QueueBytes = 64 << 20
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 10 * time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = 1 << 30
	}
	if o.OverflowBytes <= 0 {
		o.OverflowBytes = 8 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 32 << 20
	}
	if o.FsyncInterval <= 0 {
		o.FsyncInterval = time.Second
	}
	if o.Metrics == nil {
		o.Metrics = metrics.NewSet()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Sink moves encoded records from the request path to a Writer in batches. Record never blocks
// on the network; a batch that cannot be written goes to the disk spool and is replayed, in order,
// once the writer works again (and on the next start). See the package documentation for what
// each kind of failure can cost.
type Sink struct {
	opts   Options
	w      Writer
	sorts  bool // w's clicks go in its key order (KeyOrdered)
	q      *queue
	over   *queue // records that found the queue full, on their way to the spool (spoolOverflow)
	spool  *spool
	log    *slog.Logger
	blocks chan []byte
	stop   chan struct{}
	done   chan struct{}
	syncWG sync.WaitGroup
	closed atomic.Bool

	overStop chan struct{} // ends spoolOverflow, after a last drain
	overDone chan struct{}
	overEnd  atomic.Bool // spoolOverflow has ended: an overflowing record is dropped

	runCtx    context.Context
	runCancel context.CancelFunc

	free     chan []byte // emptied queue buffers, kept at their grown size (a sync.Pool is emptied by every GC)
	freeB    chan []byte // emptied batch buffers, likewise
	batchCap int         // the largest batch buffer so far: a new one starts at this size (collect only)
	batch    Batch

	// The sender's working room for ordering a batch's clicks (keyOrder), kept between batches.
	keys, keysTmp  []clickKey
	offs, restOffs []uint32
	touched        byte // decodeAt's reads, kept so that the compiler keeps them

	accepted, sent, retried, replayed, overflowed, dropped, corrupt, permanent *metrics.Counter
	batchRows, batchSeconds                                                    *metrics.PrometheusHistogram
}

// New returns a Sink writing to w; call Start to run it and Close to stop it.
func New(w Writer, opts Options) (*Sink, error) {
	opts.defaults()
	m := opts.Metrics
	s := &Sink{
		opts: opts, w: w, log: opts.Logger, sorts: sortsFor(w),
		q:        newQueue(opts.QueueBytes, opts.BatchSize),
		over:     newQueue(opts.OverflowBytes, 1),
		overStop: make(chan struct{}),
		overDone: make(chan struct{}),
		blocks:   make(chan []byte, 2),
		free:     make(chan []byte, 2),
		freeB:    make(chan []byte, 4),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),

		accepted:   m.NewCounter("firstclaim_sink_accepted_total"),
		sent:       m.NewCounter("firstclaim_sink_sent_total"),
		retried:    m.NewCounter("firstclaim_sink_retried_total"),
		replayed:   m.NewCounter("firstclaim_sink_replayed_total"),
		overflowed: m.NewCounter("firstclaim_sink_queue_overflow_total"),
		corrupt:    m.NewCounter("firstclaim_sink_corrupt_records_total"),
		permanent:  m.NewCounter("firstclaim_sink_permanent_errors_total"),
		batchRows: m.NewPrometheusHistogramExt("firstclaim_sink_batch_rows",
			[]float64{1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000}),
		batchSeconds: m.NewPrometheusHistogramExt("firstclaim_sink_batch_seconds",
			[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}),
	}
	s.runCtx, s.runCancel = context.WithCancel(context.Background())
	m.NewGauge("firstclaim_sink_queue_bytes", func() float64 { b, _ := s.q.depth(); return float64(b) })
	m.NewGauge("firstclaim_sink_queue_records", func() float64 { _, n := s.q.depth(); return float64(n) })
	if opts.Dir != "" {
		sp, err := openSpool(opts.Dir, opts.SpoolMaxBytes, opts.SegmentBytes, opts.Logger, m)
		if err != nil {
			return nil, err
		}
		s.spool = sp
		s.dropped = sp.dropped
		if sp.pending() {
			s.log.Info("sink: spooled records from an earlier run will be replayed", "bytes", sp.pendingBytes())
		}
	} else {
		s.dropped = m.NewCounter("firstclaim_sink_dropped_total")
		m.NewGauge("firstclaim_sink_spool_bytes", func() float64 { return 0 })
	}
	return s, nil
}

// Start runs the collector, the sender and the fsync ticker.
func (s *Sink) Start() {
	sent := make(chan struct{})
	go s.collect()
	go func() { s.send(); close(sent) }()
	go func() { <-sent; close(s.done) }()
	if s.spool != nil {
		s.syncWG.Add(1)
		go s.fsyncLoop()
		go s.spoolOverflow()
	} else {
		close(s.overDone)
	}
}

// Record accepts one encoded record (firstclaim.AppendClick and friends). It copies rec and
// returns at once: it never waits on the network or the disk, and does not allocate once the
// queue is warm. When the queue is full, the record goes to a second, smaller hand-off that a
// goroutine of its own writes to the spool (VictoriaMetrics' TryWrite model: the request never
// takes the spool's lock); when that is full too, or there is no spool, the record is dropped and
// counted.
func (s *Sink) Record(rec []byte) {
	s.accepted.Inc()
	if !s.closed.Load() && s.q.push(rec) {
		return
	}
	s.overflowed.Inc()
	if s.spool == nil || s.overEnd.Load() || !s.over.push(rec) {
		s.dropped.Inc()
	}
}

// spoolOverflow writes the records that found the queue full to the spool, off the request path.
// It logs the drops that Record could only count, at most every 10 seconds.
func (s *Sink) spoolOverflow() {
	defer close(s.overDone)
	spare := make([]byte, 0, 1<<20)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	logged := s.dropped.Get()
	var lastLog time.Time
	for {
		stopping := false
		select {
		case <-s.over.wake:
		case <-t.C:
		case <-s.overStop:
			stopping = true
		}
		buf, n := s.over.swap(spare)
		if n > 0 {
			s.spool.appendBlock(buf) // a failure is the spool's to count and log
		}
		spare = buf[:0]
		if d := s.dropped.Get(); d != logged && time.Since(lastLog) > 10*time.Second {
			s.log.Error("sink: records dropped (queue and spool hand-off full, or the spool cannot write)", "dropped_total", d)
			logged, lastLog = d, time.Now()
		}
		if stopping {
			return
		}
	}
}

// Writable reports whether the sink can keep what it is given: false while its spool's disk
// refuses writes (a full disk), when records that cannot be sent are being dropped. Readiness
// checks follow it.
func (s *Sink) Writable() bool { return s.spool == nil || s.spool.writable() }

// getBuf and putBuf recycle the queue's buffers, getBatch and putBatch those of whole batches. The
// few in use at once (the queue's, the batch being collected, those waiting for the sender) keep the
// size they grew to, and a batch buffer needed beyond those starts at the size batches have reached,
// so a steady load allocates nothing here: growing a batch's buffer from scratch for every batch
// was most of the sink's garbage, and the garbage collector's work on one core shows in the
// redirects' tail latency.
func (s *Sink) getBuf() []byte    { return get(s.free, 1<<20) }
func (s *Sink) putBuf(b []byte)   { put(s.free, b) }
func (s *Sink) getBatch() []byte  { return get(s.freeB, max(s.batchCap, 1<<20)) }
func (s *Sink) putBatch(b []byte) { put(s.freeB, b) }

func get(free chan []byte, size int) []byte {
	select {
	case b := <-free:
		return b[:0]
	default:
		return make([]byte, 0, size)
	}
}

// maxKept is the largest buffer kept for reuse.
const maxKept = 64 << 20

func put(free chan []byte, b []byte) {
	if cap(b) > maxKept {
		return
	}
	select {
	case free <- b[:0]:
	default:
	}
}

// collect moves queued records into batches and hands them to the sender: when a batch is full,
// when its oldest record has waited FlushInterval, and at shutdown.
func (s *Sink) collect() {
	defer close(s.blocks)
	tick := max(min(s.opts.FlushInterval/10, 100*time.Millisecond), time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	pend, pendN := s.getBatch(), 0
	var since time.Time
	for {
		stopping := false
		select {
		case <-s.q.wake:
		case <-t.C:
		case <-s.stop:
			stopping = true
		}
		buf, n := s.q.swap(s.getBuf())
		if n > 0 {
			if pendN == 0 {
				since = time.Now()
			}
			pend = append(pend, buf...)
			pendN += n
		}
		s.putBuf(buf)
		if pendN > 0 && (pendN >= s.opts.BatchSize || stopping || time.Since(since) >= s.opts.FlushInterval) {
			s.batchCap = max(s.batchCap, min(cap(pend), maxKept))
			s.handOff(pend)
			pend, pendN = s.getBatch(), 0
		}
		if stopping {
			return
		}
	}
}

// handOff gives a batch to the sender, waiting while two are ahead of it. Only the sender writes
// batches to the spool, in the order it takes them, so records keep their order whether or not
// they pass through it; while the collector waits, the queue goes on taking records.
func (s *Sink) handOff(b []byte) { s.blocks <- b }

// spoolBlock keeps a batch in the spool; a failure is the spool's to count and log.
func (s *Sink) spoolBlock(b []byte) {
	s.spool.appendBlock(b)
	s.putBatch(b)
}

// send writes batches; after a failure it spools them and replays the spool with backoff.
func (s *Sink) send() {
	backoff := s.opts.MinBackoff
	var retryAt time.Time
	fail := func(err error) {
		wait := backoff
		if IsPermanent(err) {
			wait = s.opts.MaxBackoff
		}
		// Full jitter (anywhere from now to the backoff): the retries of many redirectors that lost
		// ClickHouse at once spread over the whole interval instead of coming back together.
		retryAt = time.Now().Add(rand.N(wait + 1))
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
	readBuf := make([]byte, 0, 1<<20)
	blocksDone, closingFailed := false, false
	for {
		if s.spool != nil && s.spool.pending() {
			if s.closed.Load() {
				// Shutting down: new batches join the older records in the spool (order is kept), and
				// the spool is replayed until it is empty, a write fails, or the deadline cancels the
				// run; what is left waits for the next start.
				if !blocksDone {
					select {
					case b, ok := <-s.blocks:
						if ok {
							s.spoolBlock(b)
						} else {
							blocksDone = true
						}
						continue
					default:
					}
				}
				if closingFailed || s.runCtx.Err() != nil {
					if blocksDone {
						return
					}
					b, ok := <-s.blocks
					if !ok {
						return
					}
					s.spoolBlock(b)
					continue
				}
				var err error
				if readBuf, err = s.replay(readBuf[:0]); err != nil {
					closingFailed = true
				}
				continue
			}
			// A batch from the channel is newer than the spool's records: it joins them.
			select {
			case b, ok := <-s.blocks:
				if !ok {
					return
				}
				s.spoolBlock(b)
				continue
			default:
			}
			if !time.Now().Before(retryAt) {
				var err error
				readBuf, err = s.replay(readBuf[:0])
				if err == nil {
					backoff = s.opts.MinBackoff
					continue
				}
				fail(err)
			}
			timer := time.NewTimer(time.Until(retryAt))
			select {
			case b, ok := <-s.blocks:
				timer.Stop()
				if !ok {
					return
				}
				s.spoolBlock(b)
			case <-timer.C:
			case <-s.runCtx.Done():
				timer.Stop()
			}
			continue
		}
		if blocksDone {
			return
		}
		b, ok := <-s.blocks
		if !ok {
			return
		}
		for attempt := 0; ; attempt++ {
			err := s.deliver(b, false, attempt > 0)
			if err == nil {
				backoff = s.opts.MinBackoff
				s.putBatch(b)
				break
			}
			fail(err)
			if s.spool != nil {
				s.spoolBlock(b)
				break
			}
			// No spool: hold the batch in memory and retry, until shutdown gives up on it.
			select {
			case <-time.After(time.Until(retryAt)):
				continue
			case <-s.runCtx.Done():
			}
			n := 0
			frames(b, func([]byte) { n++ })
			s.dropped.Add(n)
			s.log.Error("sink: shutting down with an unsent batch and no spool; records dropped", "records", n)
			s.putBatch(b)
			break
		}
	}
}

// replay sends the oldest spooled records.
func (s *Sink) replay(buf []byte) ([]byte, error) {
	buf, n, next, err := s.spool.read(buf, s.opts.BatchSize, 32<<20)
	if err != nil {
		s.log.Error("sink: cannot read the spool", "err", err)
		return buf, err
	}
	if n == 0 {
		s.spool.commit(next) // only corrupt frames: skip past them
		return buf, nil
	}
	if err := s.deliver(buf, true, true); err != nil {
		return buf, err
	}
	s.spool.commit(next)
	return buf, nil
}

// deliver decodes, enriches and writes one batch of frames. retry says the records may have been
// written before (a retry, or anything read back from the spool).
func (s *Sink) deliver(data []byte, replay, retry bool) error {
	ctx, cancel := context.WithTimeout(s.runCtx, s.opts.SendTimeout)
	start := time.Now()
	n, err := s.write(ctx, data, retry)
	cancel()
	if n == 0 && err == nil {
		return nil
	}
	s.batchSeconds.Update(time.Since(start).Seconds())
	if err != nil {
		s.retried.Inc()
		if IsPermanent(err) {
			s.permanent.Inc()
		}
		s.log.Warn("sink: write failed; the batch is kept", "records", n, "replay", replay, "permanent", IsPermanent(err), "err", err)
		return err
	}
	s.sent.Add(n)
	if replay {
		s.replayed.Add(n)
	}
	s.batchRows.Update(float64(n))
	return nil
}

// sliceRecords is how many records the worker decodes, enriches and hands to the writer at a time.
// A slice is a fraction of a millisecond of work; between slices the worker yields, so a batch of
// tens of thousands of records never holds a busy core away from request handlers for long.
const sliceRecords = 256

// write decodes, enriches and writes data a slice at a time: to a StreamWriter as one batch, to
// any other Writer slice by slice (a Writer tolerates repeats, so a failure part-way is the same as
// a failed Write). It returns the records handed over.
func (s *Sink) write(ctx context.Context, data []byte, retry bool) (int, error) {
	var st Stream
	if sw, ok := s.w.(StreamWriter); ok {
		st = sw.Begin(ctx, retry)
	}
	var offs []uint32 // the frames in the order to write them, or nil: as they are
	if s.sorts {
		offs = s.keyOrder(data)
	}
	n := 0
	for len(data) > 0 {
		began := time.Now()
		if offs != nil {
			offs = s.decodeAt(data, offs, sliceRecords)
			if len(offs) == 0 {
				data = nil
			}
		} else {
			data = s.decode(data, sliceRecords)
		}
		b := &s.batch
		if b.Len() == 0 {
			continue
		}
		b.Retry = retry
		s.enrich(b)
		var err error
		if st != nil {
			err = st.Add(b)
		} else {
			err = s.w.Write(ctx, b)
		}
		if err != nil {
			if st != nil {
				st.Abort()
			}
			return n, err
		}
		n += b.Len()
		if len(data) > 0 {
			s.yield(time.Since(began))
		}
	}
	if st != nil && n > 0 {
		if err := st.Commit(); err != nil {
			st.Abort()
			return n, err
		}
	}
	return n, nil
}

// decode fills s.batch with up to max records from the frames of data and returns the frames
// left. A record that does not decode is counted, logged and skipped.
func (s *Sink) decode(data []byte, max int) []byte {
	s.batch.reset()
	for i := 0; i < max; i++ {
		rec, rest, ok := nextFrame(data)
		if !ok {
			return nil
		}
		data = rest
		s.decodeRecord(rec)
	}
	return data
}

// decodeAt is decode for the frames of data at offs, in that order; it returns the offsets left.
//
// The frames are scattered over a batch of tens of megabytes: decoded one after another, each of
// their cache lines would be a wait for memory. A first pass reads one byte of every line of the
// slice's frames, loads that do not depend on each other, so the processor fetches many lines at
// once; the decoding then finds them in its cache (BenchmarkWriteBatch in key order: 280 → 213–234
// ns a click).
func (s *Sink) decodeAt(data []byte, offs []uint32, max int) []uint32 {
	s.batch.reset()
	var touch byte
	for _, off := range offs[:min(max, len(offs))] {
		if int(off)+4 > len(data) {
			continue
		}
		end := min(len(data), int(off)+4+int(binary.LittleEndian.Uint32(data[off:])))
		for i := int(off); i < end; i += 64 {
			touch += data[i]
		}
	}
	s.touched = touch
	for i := 0; i < max && len(offs) > 0; i++ {
		if rec, _, ok := nextFrame(data[offs[0]:]); ok {
			s.decodeRecord(rec)
		}
		offs = offs[1:]
	}
	return offs
}

func (s *Sink) decodeRecord(rec []byte) {
	b := &s.batch
	var err error
	switch firstclaim.RecordKind(rec) {
	case firstclaim.RecordClick:
		b.Clicks = append(b.Clicks, firstclaim.Click{})
		if err = firstclaim.DecodeClickView(rec, &b.Clicks[len(b.Clicks)-1]); err != nil {
			b.Clicks = b.Clicks[:len(b.Clicks)-1]
		}
	case firstclaim.RecordAssociation:
		b.Associations = append(b.Associations, firstclaim.Association{})
		if err = firstclaim.DecodeAssociation(rec, &b.Associations[len(b.Associations)-1]); err != nil {
			b.Associations = b.Associations[:len(b.Associations)-1]
		}
	case firstclaim.RecordImpression:
		b.Impressions = append(b.Impressions, firstclaim.Impression{})
		if err = firstclaim.DecodeImpression(rec, &b.Impressions[len(b.Impressions)-1]); err != nil {
			b.Impressions = b.Impressions[:len(b.Impressions)-1]
		}
	case firstclaim.RecordUnknownCode:
		b.UnknownCodes = append(b.UnknownCodes, firstclaim.UnknownCode{})
		if err = firstclaim.DecodeUnknownCode(rec, &b.UnknownCodes[len(b.UnknownCodes)-1]); err != nil {
			b.UnknownCodes = b.UnknownCodes[:len(b.UnknownCodes)-1]
		}
	default:
		err = fmt.Errorf("unknown record kind %d", firstclaim.RecordKind(rec))
	}
	if err != nil {
		s.corrupt.Inc()
		s.log.Error("sink: undecodable record skipped", "err", err)
	}
}

// enrich fills the derived fields of b's records.
func (s *Sink) enrich(b *Batch) {
	if s.opts.Enricher != nil {
		s.opts.Enricher.Enrich(b)
		return
	}
	for i := range b.Clicks {
		c := &b.Clicks[i]
		if c.IP.IsValid() {
			c.StoredIP = c.IP.String()
		}
		c.RefererHost = firstclaim.HostOf(c.Referer)
	}
	for i := range b.Impressions {
		if m := &b.Impressions[i]; m.IP.IsValid() {
			m.StoredIP = m.IP.String()
		}
	}
}

// yield lets request handlers run between the slices of a batch, for three times as long as the
// slice took (worked is that time): while a batch is being written the worker has at most about a
// quarter of the CPU, so handlers that need most of it do not fall behind (with half, at a fixed
// 50,000 requests a second on one core, they did, by tens of milliseconds per batch). With more
// than one P, an idle P polls the network and handlers never wait for the worker, so it does not
// pause. With one (a one-core server, a container limited to one CPU), runtime.Gosched is not
// enough: the scheduler polls the network only when it has nothing else to run, so handlers whose
// requests arrive meanwhile would wait for the whole batch. A sleep parks the worker; the scheduler
// polls the network and runs the ready handlers, and the worker resumes once its timer has passed.
// (A pause much shorter than the slice starves the handlers instead: the woken worker runs before
// every handler already waiting.) A queue more than half full means the worker is behind: it does
// not pause then.
func (s *Sink) yield(worked time.Duration) {
	if runtime.GOMAXPROCS(0) > 1 {
		return
	}
	if bytes, _ := s.q.depth(); bytes > s.opts.QueueBytes/2 {
		return
	}
	time.Sleep(min(3*worked, 5*time.Millisecond))
}

func (s *Sink) fsyncLoop() {
	defer s.syncWG.Done()
	t := time.NewTicker(s.opts.FsyncInterval)
	defer t.Stop()
	var lastLog time.Time
	for {
		select {
		case <-t.C:
			// A full disk fails every tick: say so now and then, not every second.
			if err := s.spool.sync(); err != nil && time.Since(lastLog) > 10*time.Second {
				lastLog = time.Now()
				s.log.Error("sink: spool fsync failed", "err", err)
			}
		case <-s.done:
			return
		}
	}
}

// Close stops the sink in two stages: intake stops and everything queued is written until ctx
// ends; then writing is cancelled and what is left goes to the spool, which is fsynced. Records
// handed over while Close runs go to the spool; after it, they are dropped and counted.
func (s *Sink) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return errors.New("sink already closed")
	}
	close(s.stop)
	select {
	case <-s.done:
	case <-ctx.Done():
		s.log.Warn("sink: shutdown deadline reached; spooling what is left")
		s.runCancel()
		<-s.done
	}
	s.runCancel()
	// Records handed over since intake stopped are in the overflow hand-off: a last drain writes
	// them to the spool; any later one is dropped and counted.
	close(s.overStop)
	<-s.overDone
	s.overEnd.Store(true)
	s.syncWG.Wait()
	if s.spool != nil {
		return s.spool.close()
	}
	return nil
}
