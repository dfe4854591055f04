package filewatch

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Each version of the file is offered once: a change gives one reload, no change gives none.
func TestPollOffersEachVersionOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("one"), 0o644)
	var reloads atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Poll(ctx, path, 5*time.Millisecond, func() { reloads.Add(1) }); close(done) }()
	wait := func(want int32) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for reloads.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("reloads %d, want %d", reloads.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(50 * time.Millisecond) // ten checks of an unchanged file
	if n := reloads.Load(); n != 0 {
		t.Fatalf("unchanged file reloaded %d times", n)
	}
	// Written beside and renamed over, as a deploy should: one new version. (Written in place,
	// the empty file between truncation and write can be a version of its own.)
	os.WriteFile(path+".new", []byte("two, longer"), 0o644)
	os.Rename(path+".new", path)
	wait(1)
	time.Sleep(50 * time.Millisecond)
	if n := reloads.Load(); n != 1 {
		t.Fatalf("one change reloaded %d times", n)
	}
	os.Remove(path)
	wait(2) // a file that goes away is a change too: reload reports it
	cancel()
	<-done
}
