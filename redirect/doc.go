// Package redirect is the public edge: GET /r/CODE answers with a redirect to the link's
// destination, decides the visitor's claim (docs/rules.md §1) and hands a click record to a Recorder;
// it also serves the association and impression pixels and the association API, and the admin
// listener's health and metrics.
//
// The request path never waits on I/O and, once warm, allocates nothing: links come from an
// in-memory snapshot behind an LRU, the claim cookie is signed and verified in pooled buffers, and
// the click record is encoded into a pooled buffer before the handler returns (fasthttp reuses the
// request's memory afterwards). A Server and its Links are safe for concurrent use, and several
// can live in one process.
package redirect
