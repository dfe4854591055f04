// Package ndjson writes the event records as JSON lines to a file or standard output: the store
// of a redirector without ClickHouse, and a stream to pipe into other tools. A line holds the
// columns of the event's table (firstclaim.ClickColumns and the like) that have a JSON form, in
// their order, after an "event" field: click, association or impression. A Writer is safe for
// concurrent use.
package ndjson

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// Writer appends records to a file as JSON lines.
type Writer struct {
	mu   sync.Mutex
	f    *os.File
	w    *bufio.Writer
	own  bool
	line []byte

	click       firstclaim.ClickRow
	association firstclaim.AssociationRow
	impression  firstclaim.ImpressionRow
	unknownCode firstclaim.UnknownCodeRow
}

// Open appends to path; "-" is standard output.
func Open(path string) (*Writer, error) {
	if path == "-" {
		return &Writer{f: os.Stdout, w: bufio.NewWriterSize(os.Stdout, 64<<10)}, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("cannot open clicks file: %w", err)
	}
	return &Writer{f: f, w: bufio.NewWriterSize(f, 256<<10), own: true}, nil
}

// Write appends b's records and flushes them to the file.
func (n *Writer) Write(ctx context.Context, b *sink.Batch) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range b.Clicks {
		n.click.Set(&b.Clicks[i], b.Retry)
		if err := put(n, "click", firstclaim.ClickColumns(), &n.click); err != nil {
			return err
		}
	}
	for i := range b.Associations {
		n.association.Set(&b.Associations[i])
		if err := put(n, "association", firstclaim.AssociationColumns(), &n.association); err != nil {
			return err
		}
	}
	for i := range b.Impressions {
		n.impression.Set(&b.Impressions[i], b.Retry)
		if err := put(n, "impression", firstclaim.ImpressionColumns(), &n.impression); err != nil {
			return err
		}
	}
	for i := range b.UnknownCodes {
		n.unknownCode.Set(&b.UnknownCodes[i])
		if err := put(n, "unknown_code", firstclaim.UnknownCodeColumns(), &n.unknownCode); err != nil {
			return err
		}
	}
	return n.w.Flush()
}

// put writes one line: the event's kind, then each column with a JSON form.
func put[R any](n *Writer, event string, cols []firstclaim.Column[R], row *R) error {
	n.line = append(n.line[:0], `{"event":`...)
	n.line = appendName(n.line, event)
	for _, c := range cols {
		if c.JSON == nil {
			continue
		}
		v, err := json.Marshal(c.JSON(row))
		if err != nil {
			return sink.Permanent(fmt.Errorf("column %s: %w", c.Name, err))
		}
		n.line = append(n.line, ',')
		n.line = appendName(n.line, c.Name)
		n.line = append(append(n.line, ':'), v...)
	}
	n.line = append(n.line, "}\n"...)
	_, err := n.w.Write(n.line)
	return err
}

// appendName appends a name known to need no escaping (a column or event name) as a JSON string.
func appendName(dst []byte, s string) []byte {
	return append(append(append(dst, '"'), s...), '"')
}

// Close flushes and closes the file.
func (n *Writer) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.w.Flush()
	if n.own {
		if cerr := n.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

var _ sink.Writer = (*Writer)(nil)
