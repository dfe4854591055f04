package enrich

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/firstclaim/firstclaim"
	"github.com/firstclaim/firstclaim/sink"
)

// BenchmarkVisitorMemory reports the heap the enricher's per-visitor state holds (the duplicate
// window's pairs of visitor and link, the cache of addresses and their places, the agents' devices)
// after clicks from N distinct visitors, each on a link of its own, and once N is past the bounds
// (maxRecent pairs a generation, maxAddrs addresses): the state stops growing there.
//
//	go test -run XXX -bench VisitorMemory -benchtime 1x ./enrich/
func BenchmarkVisitorMemory(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000, 3_000_000} {
		b.Run(fmt.Sprintf("visitors=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				heap := visitorHeap(n)
				b.ReportMetric(float64(heap)/(1<<20), "MiB")
				b.ReportMetric(float64(heap)/float64(n), "B/visitor")
			}
		})
	}
}

func visitorHeap(n int) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e, _ := NewEnricher(Options{})
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	b := &sink.Batch{Clicks: make([]firstclaim.Click, 1000)}
	for v := 0; v < n; v += len(b.Clicks) {
		for j := range b.Clicks {
			k := uint32(v + j)
			b.Clicks[j] = firstclaim.Click{ID: fmt.Sprint(k), TS: t0.Add(time.Duration(v+j) * time.Millisecond), Visitor: uint64(k) * 0x9e3779b97f4a7c15,
				Link: fmt.Sprintf("l%06d", k%100_000), Outcome: firstclaim.OutcomeClaimed, UserAgent: agentsForMemory[k%4],
				IP: netip.AddrFrom4([4]byte{byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)})}
		}
		e.Enrich(b)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	return after.HeapAlloc - before.HeapAlloc
}

var agentsForMemory = [4]string{
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
}
