// Package filewatch reloads files that change on disk: the links file, the geography database.
package filewatch

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Stamp identifies the version of the file at path by its size and modification time; a file
// that cannot be read is "missing".
func Stamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
}

// Poll checks path every interval until ctx ends, and calls reload each time its Stamp has
// changed since the last check (the first check compares with the file as it was when Poll
// began). Each version is offered once: a file reload refuses is not offered again until it
// changes, so reload reports its own errors once.
func Poll(ctx context.Context, path string, interval time.Duration, reload func()) {
	PollSince(ctx, path, Stamp(path), interval, reload)
}

// PollSince is Poll comparing with since, the Stamp of the version last loaded: a file that
// changed between that load and the start of polling is reloaded at the first check.
func PollSince(ctx context.Context, path, since string, interval time.Duration, reload func()) {
	last := since
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := Stamp(path); s != last {
			last = s
			reload()
		}
	}
}
