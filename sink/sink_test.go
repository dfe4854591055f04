package sink

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/firstclaim/firstclaim"
)

// memWriter stores what it is given, and fails while told to: a stand-in for a store that goes
// away. The ClickHouse tests exercise the real one.
type memWriter struct {
	mu     sync.Mutex
	ids    []string
	failN  int // fail this many more writes; -1: fail until healed
	writes int
}

func (w *memWriter) Write(ctx context.Context, b *Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	if w.failN != 0 {
		if w.failN > 0 {
			w.failN--
		}
		return errors.New("store unavailable")
	}
	for _, c := range b.Clicks {
		w.ids = append(w.ids, strings.Clone(c.ID)) // the sink reuses the buffer c.ID is in
	}
	for _, a := range b.Associations {
		w.ids = append(w.ids, a.ID)
	}
	return nil
}

func (w *memWriter) setFail(n int) { w.mu.Lock(); w.failN = n; w.mu.Unlock() }
func (w *memWriter) got() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.ids)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func click(i int) []byte {
	c := firstclaim.Click{ID: fmt.Sprintf("click-%06d", i), TS: time.UnixMilli(1_790_000_000_000 + int64(i)), Link: "l", PartnerID: "p", Program: "affiliate", Outcome: firstclaim.OutcomeClaimed}
	return firstclaim.AppendClick(nil, &c)
}

func fastOpts(dir string) Options {
	return Options{
		BatchSize: 100, FlushInterval: 20 * time.Millisecond, Dir: dir,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, FsyncInterval: 10 * time.Millisecond,
		SegmentBytes: 4 << 10, Metrics: metrics.NewSet(), Logger: quiet,
	}
}

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("click-%06d", i))
	}
	return out
}

func counter(s *Sink, name string) uint64 {
	var buf bytes.Buffer
	s.opts.Metrics.WritePrometheus(&buf)
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			var n uint64
			fmt.Sscan(v, &n)
			return n
		}
	}
	return 0
}

func TestDeliversEverythingInOrder(t *testing.T) {
	w := &memWriter{}
	s, err := New(w, fastOpts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for i := 0; i < 1000; i++ {
		s.Record(click(i))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := w.got(); !slices.Equal(got, ids(0, 1000)) {
		t.Fatalf("delivered %d records, want 1000 in order", len(got))
	}
	if counter(s, "firstclaim_sink_sent_total") != 1000 || counter(s, "firstclaim_sink_spooled_total") != 0 {
		t.Fatalf("sent %d spooled %d", counter(s, "firstclaim_sink_sent_total"), counter(s, "firstclaim_sink_spooled_total"))
	}
}

// streamWriter takes batches in slices and fails the slice it is told to, once.
type streamWriter struct {
	memWriter
	failAt  int // fail the Add of this slice (counting from 1 over all streams), once
	adds    int
	aborts  int
	commits []int // records per committed batch
	largest int   // the largest slice
}

type memStream struct {
	w   *streamWriter
	ids []string
}

func (w *streamWriter) Begin(ctx context.Context, retry bool) Stream {
	return &memStream{w: w}
}

func (s *memStream) Add(b *Batch) error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.w.adds++
	s.w.largest = max(s.w.largest, b.Len())
	if s.w.adds == s.w.failAt {
		return errors.New("connection reset")
	}
	for _, c := range b.Clicks {
		s.ids = append(s.ids, strings.Clone(c.ID)) // the sink reuses the buffer c.ID is in
	}
	return nil
}

func (s *memStream) Commit() error {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	s.w.ids = append(s.w.ids, s.ids...)
	s.w.commits = append(s.w.commits, len(s.ids))
	return nil
}

func (s *memStream) Abort() { s.w.mu.Lock(); s.w.aborts++; s.w.mu.Unlock() }

// A StreamWriter gets each batch in slices and stores it on Commit; a slice that fails abandons
// the batch, which is written again whole, so nothing is lost or stored twice.
func TestStreamedBatchesRetriedWhole(t *testing.T) {
	w := &streamWriter{failAt: 3}
	o := fastOpts(t.TempDir())
	o.BatchSize, o.FlushInterval = 2_000, time.Hour
	s, err := New(w, o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for i := 0; i < 4_000; i++ {
		s.Record(click(i))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(w.ids, ids(0, 4_000)) {
		t.Fatalf("stored %d records, want 4000 once each, in order", len(w.ids))
	}
	// How the second 2,000 are cut into batches depends on when the worker takes them (a batch
	// taken while records still arrive is smaller); what must hold is one abandoned attempt, no
	// batch over the size, and every record stored once, in order (above).
	total := 0
	for _, n := range w.commits {
		total += n
		if n > 2_000 {
			t.Fatalf("a commit of %d records, over the batch size: %v", n, w.commits)
		}
	}
	if w.aborts != 1 || total != 4_000 {
		t.Fatalf("aborts %d, commits %v; want 1 abort and 4,000 in all", w.aborts, w.commits)
	}
	if w.largest != sliceRecords {
		t.Fatalf("largest slice %d records, want %d", w.largest, sliceRecords)
	}
}

// While the store is down, batches go to the spool; when it is back they are replayed in order,
// and what arrives meanwhile follows them.
func TestOutageSpoolsAndReplaysInOrder(t *testing.T) {
	w := &memWriter{failN: -1}
	s, err := New(w, fastOpts(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	for i := 0; i < 500; i++ {
		s.Record(click(i))
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(t, "records in the spool", func() bool { return counter(s, "firstclaim_sink_spooled_total") == 500 })
	if len(w.got()) != 0 {
		t.Fatal("wrote while failing")
	}
	w.setFail(0)
	for i := 500; i < 700; i++ {
		s.Record(click(i))
	}
	waitFor(t, "all records", func() bool { return len(w.got()) == 700 })
	if got := w.got(); !slices.Equal(got, ids(0, 700)) {
		t.Fatalf("order after replay: first %v", got[:5])
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := counter(s, "firstclaim_sink_replayed_total"); r < 500 {
		t.Fatalf("replayed %d, want at least 500", r)
	}
	if counter(s, "firstclaim_sink_dropped_total") != 0 {
		t.Fatal("dropped records")
	}
}

// A store that is down at shutdown: everything goes to the spool and the next start sends it.
func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	w := &memWriter{failN: -1}
	s, _ := New(w, fastOpts(dir))
	s.Start()
	for i := 0; i < 300; i++ {
		s.Record(click(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	w2 := &memWriter{}
	s2, err := New(w2, fastOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	waitFor(t, "replay after restart", func() bool { return len(w2.got()) == 300 })
	s2.Close(context.Background())
	if !slices.Equal(w2.got(), ids(0, 300)) {
		t.Fatal("replayed out of order")
	}
	// Everything was read: a third start has nothing to send.
	w3 := &memWriter{}
	s3, _ := New(w3, fastOpts(dir))
	s3.Start()
	time.Sleep(100 * time.Millisecond)
	s3.Close(context.Background())
	if n := len(w3.got()); n != 0 {
		t.Fatalf("third start replayed %d records again", n)
	}
}

// A damaged segment costs its own records, counted; the rest is replayed.
func TestCorruptSegmentSkipped(t *testing.T) {
	dir := t.TempDir()
	opts := fastOpts(dir)
	w := &memWriter{failN: -1}
	s, _ := New(w, opts)
	s.Start()
	for i := 0; i < 400; i++ {
		s.Record(click(i))
	}
	waitFor(t, "spooled", func() bool { return counter(s, "firstclaim_sink_spooled_total") == 400 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Close(ctx)

	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(segs)
	if len(segs) < 3 {
		t.Fatalf("want several segments, have %d", len(segs))
	}
	victim := segs[1]
	lost := readSegmentIDs(t, victim)
	data, _ := os.ReadFile(victim)
	data[12] ^= 0xff // inside the first record: its checksum fails
	os.WriteFile(victim, data, 0o640)

	w2 := &memWriter{}
	opts2 := fastOpts(dir)
	s2, _ := New(w2, opts2)
	s2.Start()
	want := slices.DeleteFunc(ids(0, 400), func(id string) bool { return slices.Contains(lost, id) })
	waitFor(t, "replay around the damage", func() bool { return len(w2.got()) == len(want) })
	s2.Close(context.Background())
	if !slices.Equal(w2.got(), want) {
		t.Fatal("replayed records differ from all but the damaged segment's")
	}
	if n := counter(s2, "firstclaim_sink_spool_corrupt_segments_total"); n != 1 {
		t.Fatalf("corrupt segments counted: %d", n)
	}
	if len(lost) == 0 {
		t.Fatal("victim segment held no records")
	}
}

func readSegmentIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for len(data) >= frameHeader {
		n := int(uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24)
		var c firstclaim.Click
		if err := firstclaim.DecodeClick(data[frameHeader:frameHeader+n], &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c.ID)
		data = data[frameHeader+n:]
	}
	return out
}

// A write torn by a crash is cut off at the next start; the whole records before it survive.
func TestTornTailRecovered(t *testing.T) {
	dir := t.TempDir()
	w := &memWriter{failN: -1}
	s, _ := New(w, fastOpts(dir))
	s.Start()
	for i := 0; i < 10; i++ {
		s.Record(click(i))
	}
	waitFor(t, "spooled", func() bool { return counter(s, "firstclaim_sink_spooled_total") == 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(segs)
	last := segs[len(segs)-1]
	f, _ := os.OpenFile(last, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{200, 0, 0, 0, 1, 2}) // half a frame
	f.Close()

	w2 := &memWriter{}
	s2, err := New(w2, fastOpts(dir))
	if err != nil {
		t.Fatal(err)
	}
	s2.Start()
	waitFor(t, "replay", func() bool { return len(w2.got()) == 10 })
	s2.Record(click(10))
	s2.Close(context.Background())
	if !slices.Equal(w2.got(), ids(0, 11)) {
		t.Fatalf("got %v", w2.got())
	}
	if counter(s2, "firstclaim_sink_spool_truncated_bytes_total") != 6 {
		t.Fatal("torn tail not counted")
	}
}

// The spool's byte cap is the one place records are dropped, and they are counted.
func TestSpoolCapDropsAndCounts(t *testing.T) {
	opts := fastOpts(t.TempDir())
	opts.SpoolMaxBytes = 2000
	w := &memWriter{failN: -1}
	s, _ := New(w, opts)
	s.Start()
	for i := 0; i < 200; i++ {
		s.Record(click(i))
	}
	waitFor(t, "accounted", func() bool {
		return counter(s, "firstclaim_sink_spooled_total")+counter(s, "firstclaim_sink_dropped_total") == 200
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s.Close(ctx)
	spooled, dropped := counter(s, "firstclaim_sink_spooled_total"), counter(s, "firstclaim_sink_dropped_total")
	if dropped == 0 || spooled == 0 || spooled*uint64(frameHeader+len(click(0))) > 2000 {
		t.Fatalf("spooled %d dropped %d under a 2000-byte cap", spooled, dropped)
	}
}

// A full memory queue sends records straight to the spool: nothing is lost, nothing waits.
func TestQueueOverflowGoesToSpool(t *testing.T) {
	opts := fastOpts(t.TempDir())
	opts.QueueBytes = 512
	opts.FlushInterval = time.Hour // the collector will not drain in time
	opts.BatchSize = 1 << 20
	w := &memWriter{}
	s, _ := New(w, opts)
	s.Start()
	for i := 0; i < 100; i++ {
		s.Record(click(i))
	}
	if counter(s, "firstclaim_sink_queue_overflow_total") == 0 {
		t.Fatal("no overflow with a 512-byte queue")
	}
	s.Close(context.Background())
	w2 := &memWriter{}
	s2, _ := New(w2, fastOpts(opts.Dir))
	s2.Start()
	waitFor(t, "everything", func() bool { return len(w.got())+len(w2.got()) == 100 })
	s2.Close(context.Background())
	all := append(w.got(), w2.got()...)
	slices.Sort(all)
	if !slices.Equal(all, ids(0, 100)) {
		t.Fatal("records lost in overflow")
	}
}

// Record is what the request path pays. The collector is not started, so only Record's own
// allocations are counted (the worker's decoding runs on another goroutine in production).
func TestRecordAllocatesNothing(t *testing.T) {
	s, _ := New(&memWriter{}, fastOpts(t.TempDir()))
	rec := click(1)
	for i := 0; i < 1000; i++ {
		s.Record(rec)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Record(rec) }); n != 0 {
		t.Fatalf("Record allocates %v times", n)
	}
	if counter(s, "firstclaim_sink_queue_overflow_total") != 0 {
		t.Fatal("the queue overflowed: the test measured the spool, not the queue")
	}
}

// BenchmarkRecord measures the request path's cost per record: the queue is drained by the
// benchmark itself, as the collector would.
func BenchmarkRecord(b *testing.B) {
	s, _ := New(&memWriter{}, Options{Dir: b.TempDir(), Metrics: metrics.NewSet(), Logger: quiet})
	rec := click(1)
	spare := make([]byte, 0, 1<<20)
	b.ReportAllocs()
	b.SetBytes(int64(len(rec)))
	for i := 0; i < b.N; i++ {
		s.Record(rec)
		if i%4096 == 4095 {
			spare, _ = s.q.swap(spare)
		}
	}
}

// BenchmarkPipeline measures record, batch, decode and hand to a writer that keeps the ids; its
// allocations are the worker's decoding, off the request path.
// Faster intake than the writer takes spills batches to the spool, so the count is checked after
// a second start has replayed it.
func BenchmarkPipeline(b *testing.B) {
	w := &memWriter{}
	dir := b.TempDir()
	s, _ := New(w, Options{Dir: dir, Metrics: metrics.NewSet(), Logger: quiet})
	s.Start()
	rec := click(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s.Record(rec)
	}
	s.Close(context.Background())
	b.StopTimer()
	s2, _ := New(w, Options{Dir: dir, Metrics: metrics.NewSet(), Logger: quiet})
	s2.Start()
	deadline := time.Now().Add(time.Minute)
	for len(w.got()) < b.N && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s2.Close(context.Background())
	if len(w.got()) != b.N {
		b.Fatalf("delivered %d of %d", len(w.got()), b.N)
	}
}

// keyWriter is a KeyOrdered writer that keeps the clicks it gets, in order.
type keyWriter struct {
	mu     sync.Mutex
	clicks []firstclaim.Click
}

func (w *keyWriter) ClickOrder() []string { return firstclaim.ClickOrder() }
func (w *keyWriter) Write(ctx context.Context, b *Batch) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range b.Clicks {
		c.ID, c.Link, c.PartnerID = strings.Clone(c.ID), strings.Clone(c.Link), strings.Clone(c.PartnerID)
		w.clicks = append(w.clicks, c)
	}
	return nil
}

// keyCmp is the clicks table's order: partner, link, time in seconds, id.
func keyCmp(a, b firstclaim.Click) int {
	return cmp.Or(strings.Compare(a.PartnerID, b.PartnerID), strings.Compare(a.Link, b.Link),
		cmp.Compare(a.TS.Unix(), b.TS.Unix()), strings.Compare(a.ID, b.ID))
}

// orderedClicks makes n clicks over partners × links (Order numbering them in key order) as one
// redirector would: in time order, several to the millisecond, links at random.
func orderedClicks(n, partners, links int) []firstclaim.Click {
	r := rand.New(rand.NewPCG(1, 2))
	t := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	out := make([]firstclaim.Click, n)
	for i := range out {
		p, l := r.IntN(partners), r.IntN(links)
		t = t.Add(time.Duration(r.IntN(400)) * time.Microsecond)
		out[i] = firstclaim.Click{ID: firstclaim.NewIDString(t), TS: t, PartnerID: fmt.Sprintf("p%02d", p), Link: fmt.Sprintf("l%03d", l),
			Program: "affiliate", Outcome: firstclaim.OutcomeClaimed, Order: uint32(p*links + l + 1)}
	}
	return out
}

func deliverTo(t *testing.T, w Writer, clicks []firstclaim.Click) {
	t.Helper()
	o := fastOpts(t.TempDir())
	o.BatchSize, o.FlushInterval = 100_000, time.Hour
	s, err := New(w, o)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	var buf []byte
	for i := range clicks {
		buf = firstclaim.AppendClick(buf[:0], &clicks[i])
		s.Record(buf)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A store sorted by the clicks table's key gets each batch's clicks in that order, whatever order
// they came in; a store that is not gets them as they came.
func TestClicksInKeyOrder(t *testing.T) {
	clicks := orderedClicks(20_000, 7, 300)
	// Two handlers racing: a few neighbours swapped, so a link's clicks are not all in time order.
	for i := 10; i < len(clicks); i += 97 {
		clicks[i], clicks[i-1] = clicks[i-1], clicks[i]
	}
	w := &keyWriter{}
	deliverTo(t, w, clicks)
	want := slices.SortedFunc(slices.Values(clicks), keyCmp)
	if len(w.clicks) != len(want) {
		t.Fatalf("got %d clicks, want %d", len(w.clicks), len(want))
	}
	for i := range want {
		if w.clicks[i].ID != want[i].ID {
			t.Fatalf("click %d is %s/%s %s, want %s/%s %s", i, w.clicks[i].PartnerID, w.clicks[i].Link, w.clicks[i].ID,
				want[i].PartnerID, want[i].Link, want[i].ID)
		}
	}
	mw := &memWriter{}
	deliverTo(t, mw, clicks)
	for i, id := range mw.got() {
		if id != clicks[i].ID {
			t.Fatalf("a store without a key order got click %d out of arrival order", i)
		}
	}
}

// Clicks far out of order within a link (past the insertion sort's budget) are sorted all the same,
// and so are the clicks of codes that are no link; a batch with a click that cannot be placed (a
// link's click without Order, as spooled by an earlier release) goes as it came.
func TestKeyOrderFallbacks(t *testing.T) {
	clicks := orderedClicks(5_000, 1, 2)
	slices.Reverse(clicks)
	w := &keyWriter{}
	deliverTo(t, w, clicks)
	if !slices.IsSortedFunc(w.clicks, keyCmp) || len(w.clicks) != len(clicks) {
		t.Fatalf("reversed clicks: %d delivered, sorted %v", len(w.clicks), slices.IsSortedFunc(w.clicks, keyCmp))
	}
	// Codes that are no link (Order 0, no partner) among the links' clicks: first, by code.
	clicks = orderedClicks(3_000, 3, 10)
	for i := 7; i < len(clicks); i += 13 {
		clicks[i].Order, clicks[i].PartnerID, clicks[i].Program = 0, "", ""
		clicks[i].Link = fmt.Sprintf("wp-%d.php", i%5)
	}
	w = &keyWriter{}
	deliverTo(t, w, clicks)
	if !slices.IsSortedFunc(w.clicks, keyCmp) || len(w.clicks) != len(clicks) {
		t.Fatalf("with unknown codes: %d delivered, sorted %v", len(w.clicks), slices.IsSortedFunc(w.clicks, keyCmp))
	}
	clicks = orderedClicks(1_000, 3, 10)
	clicks[500].Order = 0 // a click of a link without its number: a record of an earlier release
	w = &keyWriter{}
	deliverTo(t, w, clicks)
	for i := range clicks {
		if w.clicks[i].ID != clicks[i].ID {
			t.Fatalf("with a click without Order, click %d was moved", i)
		}
	}
	// A store keyed otherwise than the records can place: clicks go as they came.
	clicks = orderedClicks(1_000, 3, 10)
	slices.Reverse(clicks)
	ow := &otherKeyWriter{}
	deliverTo(t, ow, clicks)
	for i := range clicks {
		if ow.clicks[i].ID != clicks[i].ID {
			t.Fatalf("a store with another key got click %d moved", i)
		}
	}
}

// otherKeyWriter keeps clicks sorted by a key the sink does not produce.
type otherKeyWriter struct{ keyWriter }

func (w *otherKeyWriter) ClickOrder() []string { return []string{"program", "ts", "click_id"} }

func TestUUIDBits(t *testing.T) {
	hi, lo, ok := uuidBits("019ab3c4-5d6e-7f80-91a2-b3c4d5e6f708")
	if !ok || hi != 0x019ab3c45d6e7f80 || lo != 0x91a2b3c4d5e6f708 {
		t.Fatalf("got %x %x %v", hi, lo, ok)
	}
	for _, bad := range []string{"019AB3C4-5d6e-7f80-91a2-b3c4d5e6f708", "019ab3c4x5d6e-7f80-91a2-b3c4d5e6f708", "019ab3c4-5d6e-7f80-91a2-b3c4d5e6f70g", "click-000001"} {
		if _, _, ok := uuidBits(bad); ok {
			t.Errorf("%s read as a UUID", bad)
		}
	}
}

func BenchmarkKeyOrder(b *testing.B) {
	clicks := orderedClicks(50_000, 100, 1000)
	var data []byte
	for i := range clicks {
		rec := firstclaim.AppendClick(nil, &clicks[i])
		data = binary.LittleEndian.AppendUint32(data, uint32(len(rec)))
		data = append(data, rec...)
	}
	s, _ := New(&keyWriter{}, fastOpts(b.TempDir()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.keyOrder(data) == nil {
			b.Fatal("no order")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(clicks)), "ns/click")
}

// discardWriter takes batches and keeps nothing; keyed says whether it asks for key order.
type discardWriter struct{ keyed bool }

func (w discardWriter) Write(ctx context.Context, b *Batch) error { return nil }
func (w discardWriter) ClickOrder() []string {
	if w.keyed {
		return firstclaim.ClickOrder()
	}
	return []string{"program", "ts"} // a key the sink cannot produce: clicks go as they came
}

// BenchmarkWriteBatch is the worker's cost for a batch of 50,000 clicks of a realistic size spread
// over 100,000 links, decoded and handed to a writer: as they came, and in key order.
func BenchmarkWriteBatch(b *testing.B) {
	clicks := orderedClicks(50_000, 100, 1000)
	var data []byte
	for i := range clicks {
		c := &clicks[i]
		c.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
		c.ClaimClickID, c.ClaimPartnerID, c.Campaign = c.ID, c.PartnerID, "summer-2026"
		rec := firstclaim.AppendClick(nil, c)
		data = binary.LittleEndian.AppendUint32(data, uint32(len(rec)))
		data = append(data, rec...)
	}
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("keyed=%v", keyed), func(b *testing.B) {
			s, _ := New(discardWriter{keyed}, fastOpts(b.TempDir()))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := s.write(context.Background(), data, false); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(clicks)), "ns/click")
		})
	}
}

// tmpfs mounts a tmpfs of size bytes on a new folder for the test (the tests run as root, as CI
// does), so that a disk can fill up for real.
func tmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root (CI runs the tests as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// The spool's disk fills while the store is down, then gets room again, then the store comes
// back: every click served is either stored or counted as dropped (none lost silently, none
// stored twice unmarked), readiness says so while the disk refuses writes, and spooling and
// replay resume without a restart.
func TestFullDiskLosesNothingSilently(t *testing.T) {
	disk := tmpfs(t, 1<<20)
	ballast := filepath.Join(disk, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 900<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := fastOpts(filepath.Join(disk, "spool"))
	opts.SegmentBytes = 64 << 10
	w := &memWriter{failN: -1} // the store is down
	s, err := New(w, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	served := 0
	serve := func(n int) {
		for i := 0; i < n; i++ {
			s.Record(click(served))
			served++
		}
	}
	serve(3_000) // about 200 KiB of frames for a disk with about 120 KiB left
	// Readiness says not writable from a refused write until a write goes through again; at the
	// edge of a full disk a small record may still fit, so more are served until it says so.
	sawRefused := false
	for round := 0; round < 200 && !sawRefused; round++ {
		waitFor(t, "the records to reach the spool", func() bool {
			return counter(s, "firstclaim_sink_spooled_total")+counter(s, "firstclaim_sink_dropped_total") == uint64(served)
		})
		sawRefused = counter(s, "firstclaim_sink_dropped_total") > 0 && !s.Writable()
		if !sawRefused {
			serve(20)
		}
	}
	if !sawRefused {
		t.Fatalf("the full disk never made the spool unwritable (dropped %d)", counter(s, "firstclaim_sink_dropped_total"))
	}
	waitFor(t, "every record spooled or dropped", func() bool {
		return counter(s, "firstclaim_sink_spooled_total")+counter(s, "firstclaim_sink_dropped_total") == uint64(served)
	})
	// Room again: readiness comes back by itself, and new records are spooled, not dropped.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the spool to see room again", s.Writable)
	droppedBefore := counter(s, "firstclaim_sink_dropped_total")
	serve(50)
	waitFor(t, "the 50 to be spooled", func() bool {
		return counter(s, "firstclaim_sink_spooled_total")+counter(s, "firstclaim_sink_dropped_total") == uint64(served)
	})
	if d := counter(s, "firstclaim_sink_dropped_total"); d != droppedBefore {
		t.Fatalf("%d records dropped after the disk had room again", d-droppedBefore)
	}
	// The store comes back: the spool replays, without a restart.
	w.mu.Lock()
	w.failN = 0
	w.mu.Unlock()
	waitFor(t, "the spool to drain", func() bool { return !s.spool.pending() && len(w.got()) > 0 })
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, id := range w.got() {
		stored[id] = true
	}
	dropped := counter(s, "firstclaim_sink_dropped_total")
	if uint64(len(stored))+dropped != uint64(served) {
		t.Fatalf("served %d, stored %d distinct, dropped %d: %d unaccounted for", served, len(stored), dropped,
			int64(served)-int64(len(stored))-int64(dropped))
	}
	for i := served - 50; i < served; i++ {
		if !stored[fmt.Sprintf("click-%06d", i)] {
			t.Fatalf("click %d, served after the disk had room, is not stored", i)
		}
	}
	if dropped == 0 || len(stored) < 1000 {
		t.Fatalf("stored %d, dropped %d: the disk never filled, or little was kept", len(stored), dropped)
	}
	// A restart finds nothing left to replay and nothing torn.
	s2, err := New(&memWriter{}, fastOpts(filepath.Join(disk, "spool")))
	if err != nil {
		t.Fatal(err)
	}
	if s2.spool.pending() || counter(s2, "firstclaim_sink_spool_truncated_bytes_total") != 0 {
		t.Fatalf("after a clean close: pending %v, truncated %d bytes", s2.spool.pending(), counter(s2, "firstclaim_sink_spool_truncated_bytes_total"))
	}
}

// With the spool's writer stuck (its lock held, as a slow disk or an fsync would hold it), a full
// queue does not hold up Record: it hands the record over and returns. The records are spooled
// once the writer is free again.
func TestRecordNeverWaitsOnTheSpool(t *testing.T) {
	opts := fastOpts(t.TempDir())
	opts.QueueBytes = 256 // full after a few records
	opts.FlushInterval = time.Hour
	s, err := New(&memWriter{failN: -1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	s.spool.mu.Lock() // the writer is stuck on the disk
	done := make(chan time.Duration, 1)
	go func() {
		start := time.Now()
		for i := 0; i < 1_000; i++ {
			s.Record(click(i))
		}
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		t.Logf("1,000 records with the spool's writer stuck: %v in all", d)
	case <-time.After(10 * time.Second):
		s.spool.mu.Unlock()
		t.Fatal("Record waited for the spool's writer")
	}
	s.spool.mu.Unlock()
	waitFor(t, "every record accounted for", func() bool {
		return counter(s, "firstclaim_sink_spooled_total")+counter(s, "firstclaim_sink_dropped_total") >= 990
	})
	if d := counter(s, "firstclaim_sink_dropped_total"); d != 0 {
		t.Fatalf("%d records dropped", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	s.Close(ctx)
}

// BenchmarkRecordSpoolStuck is Record's cost when the queue is full and the spool's writer is
// stuck: the request path's worst case.
func BenchmarkRecordSpoolStuck(b *testing.B) {
	opts := fastOpts(b.TempDir())
	opts.QueueBytes = 256
	opts.FlushInterval = time.Hour
	s, _ := New(&memWriter{failN: -1}, opts)
	s.Start()
	s.spool.mu.Lock()
	rec := click(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Record(rec)
	}
	b.StopTimer()
	s.spool.mu.Unlock()
}
