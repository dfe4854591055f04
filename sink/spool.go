package sink

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// The spool keeps records that could not be sent (or did not fit in memory) on disk until they
// can be, across restarts. It is a persistent queue:
//
//   - segment files named by the offset of their first byte (%016x.seg), each a sequence of
//     frames [u32 length][u32 CRC-32C of the record][record];
//   - a writer offset (the end of the last segment, recovered from the files) and a reader offset
//     (kept in meta.json, written atomically), both counted in bytes since the spool began;
//   - a byte cap on unread data: a record that would exceed it is dropped, counted and logged,
//     the only way a record is ever dropped;
//   - writes go to the OS at once for whole blocks; fsync runs every fsync interval (never under the
//     lock writers take), so a crash of the machine costs at most that interval.
//
// A frame that fails its checksum (or has an impossible length) makes the rest of its segment
// unreadable: it is skipped, counted and logged, and reading goes on with the next segment.
//
// A write that fails (a full disk, an I/O error) loses only what it was writing, and says so: the
// segment is cut back to the end of the last write that reached the OS (so no torn or unwritten
// bytes lie inside the readable range), the buffered records are counted as dropped, the episode
// is logged once, and the spool reports itself unwritable (readiness) until a write succeeds or the
// disk has room again. Nothing needs a restart: the next write tries again, and reading never
// depended on it.
type spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	log      *slog.Logger

	mu         sync.Mutex
	segs       []int64 // start offsets of the segment files, ascending; the last is the writer's
	w          *os.File
	wb         *bufio.Writer
	wOff       int64      // end of written data, buffered bytes included
	flushedOff int64      // end of the data handed to the OS: what a failed write cuts back to
	bufRecs    int        // records appended since flushedOff
	broken     bool       // the writer's file must be cut back to flushedOff (or replaced) before the next write
	rOff       int64      // first unread byte
	metaOff    int64      // rOff as last saved to meta.json
	dirty      bool       // written since the last fsync
	toSync     []*os.File // segments rotated out: fsynced and closed by sync, outside the lock
	rf         *os.File
	rfStart    int64
	lastLog    time.Time

	failing     atomic.Bool // a write failed and none has succeeded since
	episodeLost int         // records dropped since the episode began

	spooled, dropped, corruptSegs, corruptBytes, truncated *metrics.Counter
}

const (
	frameHeader    = 8
	maxRecordBytes = 1 << 20
	metaFile       = "meta.json"
	segSuffix      = ".seg"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type spoolMeta struct {
	ReadOffset int64 `json:"read_offset"`
}

func segName(start int64) string { return fmt.Sprintf("%016x%s", start, segSuffix) }

func openSpool(dir string, maxBytes, segBytes int64, log *slog.Logger, set *metrics.Set) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create spool folder %q: %w", dir, err)
	}
	s := &spool{
		dir: dir, maxBytes: maxBytes, segBytes: segBytes, log: log,
		spooled:      set.NewCounter("firstclaim_sink_spooled_total"),
		dropped:      set.NewCounter("firstclaim_sink_dropped_total"),
		corruptSegs:  set.NewCounter("firstclaim_sink_spool_corrupt_segments_total"),
		corruptBytes: set.NewCounter("firstclaim_sink_spool_corrupt_bytes_total"),
		truncated:    set.NewCounter("firstclaim_sink_spool_truncated_bytes_total"),
	}
	if data, err := os.ReadFile(filepath.Join(dir, metaFile)); err == nil {
		var m spoolMeta
		if err := json.Unmarshal(data, &m); err != nil {
			log.Error("spool meta.json unreadable; replaying from the oldest segment", "err", err)
		} else {
			s.rOff = m.ReadOffset
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("cannot read spool meta: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list spool folder %q: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		start, err := strconv.ParseInt(strings.TrimSuffix(name, segSuffix), 16, 64)
		if err != nil {
			log.Warn("ignoring a file in the spool folder", "file", name)
			continue
		}
		s.segs = append(s.segs, start)
	}
	slices.Sort(s.segs)
	if len(s.segs) == 0 {
		s.segs = []int64{s.rOff}
		s.wOff, s.flushedOff = s.rOff, s.rOff
	} else {
		if s.rOff < s.segs[0] {
			s.rOff = s.segs[0]
		}
		last := s.segs[len(s.segs)-1]
		end, err := s.recoverTail(last)
		if err != nil {
			return nil, err
		}
		s.wOff = last + end
		s.flushedOff = s.wOff
		if s.rOff > s.wOff {
			s.rOff = s.wOff
		}
	}
	s.metaOff = s.rOff
	last := s.segs[len(s.segs)-1]
	f, err := os.OpenFile(filepath.Join(dir, segName(last)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cannot open spool segment: %w", err)
	}
	s.w, s.wb = f, bufio.NewWriterSize(f, 256<<10)
	s.removeConsumed()
	set.NewGauge("firstclaim_sink_spool_bytes", func() float64 { return float64(s.pendingBytes()) })
	return s, nil
}

// recoverTail finds the end of the last whole frame in the writer's segment and cuts off a torn
// write (a crash in the middle of a frame).
func (s *spool) recoverTail(start int64) (int64, error) {
	path := filepath.Join(s.dir, segName(start))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("cannot open spool segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 1<<20)
	var off int64
	var hdr [frameHeader]byte
	rec := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if n > maxRecordBytes || off+frameHeader+n > fi.Size() {
			break
		}
		rec = slices.Grow(rec[:0], int(n))[:n]
		if _, err := io.ReadFull(r, rec); err != nil {
			break
		}
		if crc32.Checksum(rec, castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			break
		}
		off += frameHeader + n
	}
	if off < fi.Size() {
		s.log.Warn("spool: cutting an incomplete or damaged tail off the last segment", "file", path, "bytes", fi.Size()-off)
		s.truncated.Add(int(fi.Size() - off))
		if err := f.Truncate(off); err != nil {
			return 0, fmt.Errorf("cannot truncate spool segment: %w", err)
		}
	}
	return off, nil
}

// appendFrame writes one record into the buffer. The caller holds s.mu. An error means the
// record, and those buffered with it, were dropped and counted (see fail).
func (s *spool) appendFrame(rec []byte) error {
	size := int64(frameHeader + len(rec))
	if s.wOff+size-s.rOff > s.maxBytes {
		s.dropped.Inc()
		if time.Since(s.lastLog) > 10*time.Second {
			s.lastLog = time.Now()
			s.log.Error("spool full: dropping records (raise --spool-max-bytes or bring ClickHouse back)", "max_bytes", s.maxBytes, "dropped_total", s.dropped.Get())
		}
		return nil
	}
	if err := s.repair(); err != nil {
		s.fail(err, 1)
		return err
	}
	if s.wOff-s.segs[len(s.segs)-1] >= s.segBytes {
		if err := s.rotate(); err != nil {
			s.fail(err, 1)
			return err
		}
	}
	var hdr [frameHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
	_, err := s.wb.Write(hdr[:])
	if err == nil {
		_, err = s.wb.Write(rec)
	}
	if err != nil {
		s.fail(err, 1)
		return err
	}
	s.wOff += size
	s.bufRecs++
	s.dirty = true
	return nil
}

// flush hands the buffered records to the OS. The caller holds s.mu.
func (s *spool) flush() error {
	if s.broken {
		return nil // fail dropped the buffer; repair comes with the next write
	}
	if err := s.wb.Flush(); err != nil {
		s.fail(err, 0)
		return err
	}
	s.spooled.Add(s.bufRecs) // counted once they reach the OS: a failed write counts them dropped instead
	s.flushedOff, s.bufRecs = s.wOff, 0
	if s.failing.Load() {
		s.failing.Store(false)
		s.log.Info("spool: writing again", "records_dropped_meanwhile", s.episodeLost)
	}
	return nil
}

// fail handles a write that did not reach the disk: the records buffered since the last good
// write (and lost more, the one being written) are dropped and counted, the write offset goes back
// to the last good write, and the writer is marked for repair: its file may hold a torn tail
// beyond that offset. The first failure of an episode is logged; the rest are counted.
func (s *spool) fail(err error, lost int) {
	lost += s.bufRecs
	s.dropped.Add(lost)
	s.wOff, s.bufRecs, s.broken = s.flushedOff, 0, true
	s.episodeLost += lost
	if !s.failing.Swap(true) {
		s.episodeLost = lost
		s.log.Error("spool: cannot write; records are dropped and counted until it can (firstclaim_sink_dropped_total)",
			"dir", s.dir, "err", err, "dropped", lost)
	}
}

// repair makes the writer whole after a failed write: the segment is cut back to the last good
// write and the buffer emptied; when the file cannot be cut, writing moves on to a new segment that
// starts there (the reader stops at the next segment's start, never reading the torn tail).
func (s *spool) repair() error {
	if !s.broken {
		return nil
	}
	start := s.segs[len(s.segs)-1]
	if err := s.w.Truncate(s.flushedOff - start); err == nil {
		s.wb.Reset(s.w)
		s.broken = false
		return nil
	}
	if s.flushedOff == start {
		return fmt.Errorf("cannot cut back spool segment %s", segName(start))
	}
	f, err := os.OpenFile(filepath.Join(s.dir, segName(s.flushedOff)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	s.toSync = append(s.toSync, s.w)
	s.segs = append(s.segs, s.flushedOff)
	s.w = f
	s.wb.Reset(f)
	s.broken = false
	return nil
}

// rotate starts a new segment. The old one is fsynced and closed by the next sync, outside the
// lock, so a slow disk does not hold up writers.
func (s *spool) rotate() error {
	if err := s.flush(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, segName(s.wOff)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	s.toSync = append(s.toSync, s.w)
	s.segs = append(s.segs, s.wOff)
	s.w = f
	s.wb.Reset(f)
	return nil
}

// appendBlock spools [u32 length][record] frames and hands them to the OS at once. When a write
// fails, the block's records not yet written are dropped and counted with the rest.
func (s *spool) appendBlock(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	frames(b, func(rec []byte) {
		if err != nil {
			s.dropped.Inc()
			s.episodeLost++
			return
		}
		err = s.appendFrame(rec)
	})
	if err != nil {
		return err
	}
	return s.flush()
}

// writable reports whether the last write reached the OS (or, after a failure, whether the disk
// has room again).
func (s *spool) writable() bool { return !s.failing.Load() }

// probe ends a failure episode once the spool's disk has room for a segment again, so readiness
// comes back without waiting for the next record. The next write confirms it, or starts a new
// episode.
func (s *spool) probe() {
	if !s.failing.Load() {
		return
	}
	if free, ok := freeBytes(s.dir); ok && free >= min(s.segBytes, 1<<20) {
		s.failing.Store(false)
		s.log.Info("spool: its disk has room again", "free_bytes", free, "records_dropped_meanwhile", s.episodeLost)
	}
}

// pending reports whether unread records remain.
func (s *spool) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wOff > s.rOff
}

func (s *spool) pendingBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.wOff - s.rOff
}

// read appends up to maxRecs records (and about maxBytes) from the reader offset to dst as
// [u32 length][record] frames. It returns the offset after them; commit it once they are sent.
// Corrupt frames are skipped with the rest of their segment.
func (s *spool) read(dst []byte, maxRecs, maxBytes int) ([]byte, int, int64, error) {
	s.mu.Lock()
	s.flush() // a failure drops the buffered records (counted); what reached the OS reads as before
	pos, end := s.rOff, s.flushedOff
	segs := slices.Clone(s.segs)
	s.mu.Unlock()

	n := 0
	var hdr [frameHeader]byte
	for pos < end && n < maxRecs && len(dst) < maxBytes {
		i, _ := slices.BinarySearch(segs, pos+1)
		i-- // the segment holding pos
		if i < 0 {
			pos = segs[0]
			continue
		}
		segStart, segEnd := segs[i], end
		if i+1 < len(segs) {
			segEnd = segs[i+1]
		}
		if pos >= segEnd {
			pos = segEnd
			continue
		}
		f, err := s.readFile(segStart)
		if err != nil {
			return dst, n, pos, err
		}
		bad := func(why string) {
			s.corruptSegs.Inc()
			s.corruptBytes.Add(int(segEnd - pos))
			s.log.Error("spool: corrupt segment; skipping the rest of it", "file", segName(segStart), "offset", pos-segStart, "why", why, "skipped_bytes", segEnd-pos)
			pos = segEnd
		}
		if segEnd-pos < frameHeader {
			bad("short frame header")
			continue
		}
		if _, err := f.ReadAt(hdr[:], pos-segStart); err != nil {
			bad("cannot read frame header: " + err.Error())
			continue
		}
		size := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if size > maxRecordBytes || pos+frameHeader+size > segEnd {
			bad(fmt.Sprintf("impossible frame length %d", size))
			continue
		}
		at := len(dst)
		dst = binary.LittleEndian.AppendUint32(dst, uint32(size))
		dst = slices.Grow(dst, int(size))[:len(dst)+int(size)]
		if _, err := f.ReadAt(dst[at+4:], pos-segStart+frameHeader); err != nil {
			dst = dst[:at]
			bad("cannot read frame: " + err.Error())
			continue
		}
		if crc32.Checksum(dst[at+4:], castagnoli) != binary.LittleEndian.Uint32(hdr[4:]) {
			dst = dst[:at]
			bad("checksum mismatch")
			continue
		}
		pos += frameHeader + size
		n++
	}
	return dst, n, pos, nil
}

func (s *spool) readFile(start int64) (*os.File, error) {
	if s.rf != nil && s.rfStart == start {
		return s.rf, nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	f, err := os.Open(filepath.Join(s.dir, segName(start)))
	if err != nil {
		return nil, fmt.Errorf("cannot open spool segment: %w", err)
	}
	s.rf, s.rfStart = f, start
	return f, nil
}

// commit moves the reader offset to off and removes segments read to the end.
func (s *spool) commit(off int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off > s.rOff {
		s.rOff = off
	}
	s.removeConsumed()
}

// removeConsumed deletes segments wholly before the reader offset, never the writer's. The caller
// holds s.mu (or is opening the spool).
func (s *spool) removeConsumed() {
	for len(s.segs) > 1 && s.segs[1] <= s.rOff {
		start := s.segs[0]
		if s.rf != nil && s.rfStart == start {
			s.rf.Close()
			s.rf = nil
		}
		if err := os.Remove(filepath.Join(s.dir, segName(start))); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("spool: cannot remove a read segment", "file", segName(start), "err", err)
			return
		}
		s.segs = s.segs[1:]
	}
}

// sync writes buffered records to the OS, fsyncs them (and the segments rotated out since the
// last sync, which it then closes), and saves the reader offset. Only the hand-over to the OS is
// done under the lock; the fsyncs are not.
func (s *spool) sync() error {
	s.mu.Lock()
	err := s.flush()
	f, dirty, rOff, old := s.w, s.dirty, s.rOff, s.toSync
	s.dirty, s.toSync = false, nil
	s.mu.Unlock()
	for _, o := range old {
		if e := o.Sync(); e != nil && err == nil && !errors.Is(e, os.ErrClosed) {
			err = e
		}
		o.Close()
	}
	if dirty {
		if e := f.Sync(); e != nil && err == nil && !errors.Is(e, os.ErrClosed) {
			err = e
		}
	}
	s.probe()
	if rOff != s.metaOffLoad() {
		if e := s.saveMeta(rOff); e != nil && err == nil {
			err = e
		}
	}
	return err
}

func (s *spool) metaOffLoad() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metaOff
}

func (s *spool) saveMeta(rOff int64) error {
	data, _ := json.Marshal(spoolMeta{ReadOffset: rOff})
	tmp := filepath.Join(s.dir, metaFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, metaFile)); err != nil {
		return err
	}
	s.mu.Lock()
	s.metaOff = rOff
	s.mu.Unlock()
	return nil
}

func (s *spool) close() error {
	err := s.sync()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.toSync {
		o.Close()
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	return err
}
