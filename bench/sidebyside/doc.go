// Command sidebyside measures the redirect path against the baselines a user would otherwise pick,
// in one run, alternating: nginx answering the same redirects from a map (access log buffered to a
// file), a bare fasthttp server that returns the same 302 and cookie and records nothing, and
// firstclaim serve with 100,000 links, signed cookies, enrichment and the ClickHouse sink.
//
// The servers (and ClickHouse) get core 0, the load generator core 1. Closed-loop load comes from
// wrk; the constant-rate comparison from the open-loop generator in this program, which measures
// latency from each request's intended send time so that a stalled server cannot hide its queue.
//
//	go run ./bench/sidebyside run      the whole comparison (see bench/run)
//	sidebyside bare ...                the bare fasthttp server (started by run)
//	sidebyside openloop ...            the constant-rate load (started by run)
package main
