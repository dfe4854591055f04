// Package postback reports commission lines back to the affiliate networks the clicks came through:
// per network, a URL template filled with the line's values (escaped), signed with the network's
// secret when it takes signatures, sent when a line becomes pending, approved or rejected, retried
// with backoff on 5xx and timeouts, every attempt recorded in ClickHouse, and each line and status
// sent once however often the job runs. A Sender is safe for one Send at a time.
package postback
