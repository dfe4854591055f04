// Package sink carries event records (clicks, associations, impressions) from the request path
// to their store without ever making a visitor wait: Record copies an encoded record into a
// bounded in-memory queue; a worker batches them on size or age and hands each batch to a Writer
// (ClickHouse, or an NDJSON file) a slice at a time, yielding to request handlers between slices,
// with the clicks in the store's key order when it keeps one (KeyOrdered); batches that cannot be
// written go to a disk spool and are replayed in order once the writer works again, and on the
// next start.
//
// It is the pipeline only: it knows no store. The Writer it is given (the ClickHouse adapter, or
// NDJSON lines) says how a batch is stored.
//
// What each failure can cost:
//   - ClickHouse down or slow: nothing; batches go to the spool (up to SpoolMaxBytes) and are
//     replayed when it answers. Past the cap, records are dropped and counted
//     (firstclaim_sink_dropped_total), the only way a record is ever dropped.
//   - SIGTERM: nothing; Close writes what is queued until its deadline, then spools the rest.
//   - kill -9 of the process: the records still in memory, at most about FlushInterval's worth
//     (plus, with ClickHouse down, spooled bytes not yet handed to the OS, at most FsyncInterval's).
//   - a crash of the machine: also the spool's writes of the last FsyncInterval.
//   - a corrupt spool segment: the records from the damage to the end of that segment; the rest
//     is replayed, and the loss is counted and logged.
//
// A Sink, its Writers and the functions of this package are safe for concurrent use.
package sink
