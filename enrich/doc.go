// Package enrich knows the click: whether it came from a bot, where it came from (a MaxMind DB
// file), on what device and browser, whether it repeats an earlier click, and how much of the
// visitor's address is kept.
//
// Only the bot verdict runs on the request path (it decides whether a click may claim), and it is
// cached; geography and device parsing run in the sink's batch worker. Everything here is safe for
// concurrent use.
package enrich
