// Package firstclaim holds the product's plain domain types: the events the redirector records
// (clicks, associations, impressions) and their compact binary encoding, shared by the request
// path, the in-memory queue and the disk spool.
//
// Everything here is a value type or a pure function; it is safe to use from any goroutine.
// The packages around it are named after what they provide: redirect (the HTTP edge), cookie (the
// signed claim), sink (batches to ClickHouse, with a disk spool), attribution (the program rules),
// enrich (geography, device, bots, privacy) and report (what marketers read).
package firstclaim
