package links

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/firstclaim/firstclaim/redirect"
)

// The snapshot is the catalog as a CSV file: a first line "# firstclaim links snapshot v1
// cursor=UNIX links=N", a header, and the newest version of every link. It is written to a
// temporary file, synced and renamed over the last one, so a crash leaves the last whole snapshot.
// An edge that starts while ClickHouse does not answer serves it, and asks ClickHouse for what
// changed since its cursor once it answers.

const snapshotMagic = "# firstclaim links snapshot v1"

var snapshotHeader = []string{"code", "url", "partner", "program", "campaign", "status", "expires_at", "version", "actor", "op", "written_at"}

func (c *Catalog) saveSnapshot(force bool) (err error) {
	if c.opts.Snapshot == "" {
		return nil
	}
	c.saveMu.Lock()
	defer c.saveMu.Unlock()
	if !force && time.Since(c.savedAt) < c.opts.SnapshotEvery {
		c.dirty = true
		return nil
	}
	defer func() {
		if err != nil {
			c.dirty = true // tried again at the next poll (a full disk may have room by then)
		}
	}()
	c.mu.RLock()
	cursor := c.cursor
	c.mu.RUnlock()
	if err := os.MkdirAll(filepath.Dir(c.opts.Snapshot), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.opts.Snapshot), ".links-snapshot-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriterSize(tmp, 1<<20)
	// The set may change while it is written: the count is the links written, on the first line
	// once they are (the line is of fixed width, rewritten at the end).
	fmt.Fprintf(bw, "%s cursor=%d links=%020d\n", snapshotMagic, cursor.Unix(), 0)
	w := csv.NewWriter(bw)
	w.Write(snapshotHeader)
	rec := make([]string, len(snapshotHeader))
	written := 0
	c.links.Each(func(l redirect.Link, m redirect.LinkMeta) bool {
		// The link's strings point into the link set: only the numbers are made here.
		written++
		exp := ""
		if !l.ExpiresAt.IsZero() {
			exp = l.ExpiresAt.UTC().Format(time.RFC3339)
		}
		rec[0], rec[1], rec[2], rec[3], rec[4], rec[5], rec[6] = l.Code, l.URL, l.PartnerID, l.Program, l.Campaign, l.Status, exp
		rec[7], rec[8], rec[9], rec[10] = strconv.FormatUint(m.Version, 10), m.Actor, m.Op, strconv.FormatInt(max(m.WrittenAt.Unix(), 0), 10)
		w.Write(rec)
		return true
	})
	w.Flush()
	if err := w.Error(); err != nil {
		tmp.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteAt([]byte(fmt.Sprintf("%s cursor=%d links=%020d\n", snapshotMagic, cursor.Unix(), written)), 0); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), c.opts.Snapshot); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(c.opts.Snapshot)); err == nil { // the rename itself, durable
		d.Sync()
		d.Close()
	}
	c.savedAt, c.dirty = time.Now(), false
	return nil
}

// loadSnapshot reads the snapshot into the catalog and serves it; the cursor is the snapshot's.
func (c *Catalog) loadSnapshot() (int, error) {
	f, err := os.Open(c.opts.Snapshot)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, snapshotMagic) {
		return 0, fmt.Errorf("%s is not a links snapshot", c.opts.Snapshot)
	}
	var cursor, n int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(first, snapshotMagic), " cursor=%d links=%d", &cursor, &n); err != nil {
		return 0, fmt.Errorf("%s: first line: %v", c.opts.Snapshot, err)
	}
	r := csv.NewReader(br)
	r.ReuseRecord = true
	r.FieldsPerRecord = len(snapshotHeader)
	if _, err := r.Read(); err != nil {
		return 0, fmt.Errorf("%s: header: %v", c.opts.Snapshot, err)
	}
	set := c.links.NewSet(int(n))
	count := 0
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %v", c.opts.Snapshot, err)
		}
		l := redirect.Link{Code: rec[0], URL: rec[1], PartnerID: rec[2], Program: rec[3], Campaign: rec[4], Status: rec[5]}
		m := redirect.LinkMeta{Actor: rec[8], Op: rec[9]}
		if rec[6] != "" {
			if l.ExpiresAt, err = time.Parse(time.RFC3339, rec[6]); err != nil {
				return 0, fmt.Errorf("%s: link %q: expires_at: %v", c.opts.Snapshot, l.Code, err)
			}
		}
		if m.Version, err = strconv.ParseUint(rec[7], 10, 64); err != nil {
			return 0, fmt.Errorf("%s: link %q: version: %v", c.opts.Snapshot, l.Code, err)
		}
		if w, _ := strconv.ParseInt(rec[10], 10, 64); w > 0 {
			m.WrittenAt = time.Unix(w, 0).UTC()
		}
		set.Add(&l, &m)
		count++
	}
	if int64(count) != n {
		return 0, fmt.Errorf("%s: %d links, the first line says %d (cut short?)", c.opts.Snapshot, count, n)
	}
	c.links.Serve(set)
	c.mu.Lock()
	c.cursor, c.sorted = time.Unix(cursor, 0).UTC(), nil
	c.mu.Unlock()
	return count, nil
}
