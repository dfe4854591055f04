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
//   - writes go to the OS at once for whole batches and every fsync interval for single records;
//     fsync runs every fsync interval, so a crash of the machine costs at most that interval.
//
// A frame that fails its checksum (or has an impossible length) makes the rest of its segment
// unreadable: it is skipped, counted and logged, and reading goes on with the next segment.
type spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	log      *slog.Logger

	mu      sync.Mutex
	segs    []int64 // start offsets of the segment files, ascending; the last is the writer's
	w       *os.File
	wb      *bufio.Writer
	wOff    int64 // end of written data, buffered bytes included
	rOff    int64 // first unread byte
	metaOff int64 // rOff as last saved to meta.json
	dirty   bool  // written since the last fsync
	rf      *os.File
	rfStart int64
	lastLog time.Time

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
		s.wOff = s.rOff
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

// appendFrame writes one record. The caller holds s.mu.
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
	if s.wOff-s.segs[len(s.segs)-1] >= s.segBytes {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	var hdr [frameHeader]byte
	binary.LittleEndian.PutUint32(hdr[:4], uint32(len(rec)))
	binary.LittleEndian.PutUint32(hdr[4:], crc32.Checksum(rec, castagnoli))
	if _, err := s.wb.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := s.wb.Write(rec); err != nil {
		return err
	}
	s.wOff += size
	s.dirty = true
	s.spooled.Inc()
	return nil
}

func (s *spool) rotate() error {
	if err := s.wb.Flush(); err != nil {
		return err
	}
	if err := s.w.Sync(); err != nil {
		return err
	}
	if err := s.w.Close(); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.dir, segName(s.wOff)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot create spool segment: %w", err)
	}
	s.segs = append(s.segs, s.wOff)
	s.w = f
	s.wb.Reset(f)
	return nil
}

// appendRecord spools one record; the bytes reach the OS at the next fsync tick.
func (s *spool) appendRecord(rec []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appendFrame(rec)
}

// appendBlock spools [u32 length][record] frames and writes them to the OS at once.
func (s *spool) appendBlock(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	frames(b, func(rec []byte) {
		if err == nil {
			err = s.appendFrame(rec)
		}
	})
	if err != nil {
		return err
	}
	return s.wb.Flush()
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
	if err := s.wb.Flush(); err != nil {
		s.mu.Unlock()
		return dst, 0, 0, err
	}
	pos, end := s.rOff, s.wOff
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

// sync writes buffered records to the OS, fsyncs them, and saves the reader offset.
func (s *spool) sync() error {
	s.mu.Lock()
	err := s.wb.Flush()
	f, dirty, rOff := s.w, s.dirty, s.rOff
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if dirty {
		if err := f.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
			return err
		}
	}
	if rOff != s.metaOffLoad() {
		if err := s.saveMeta(rOff); err != nil {
			return err
		}
	}
	return nil
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
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	if cerr := s.w.Close(); err == nil {
		err = cerr
	}
	return err
}
