// Package listener is the public listener's plumbing, an optimisation of the socket layer rather
// than part of the edge's logic: ConnLimits holds connections to a request and an idle time limit
// with a sweep once a tick instead of socket deadlines on every request, and on Linux its
// connections read and write their sockets with raw system calls (directIO). Both were measured
// on the redirect path (bench/results/2026-11-24-redirect.md, 2026-11-25-redirect.md). Safe for
// concurrent use.
package listener
