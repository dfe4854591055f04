package main

import (
	"fmt"
	"log"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"
)

// redactingLogger takes the lines the HTTP servers log about requests they could not serve. Those
// can quote the raw request: its Authorization header, its cookies (claim cookies, session cookies
// of the merchant's domain), a signed pixel's sig. It removes those values, and writes at most one
// line per interval, counting the ones it held back, so that a flood of malformed requests cannot
// flood the log either. Safe for concurrent use.
type redactingLogger struct {
	log   *slog.Logger
	every time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

func newRedactingLogger(l *slog.Logger, every time.Duration) *redactingLogger {
	return &redactingLogger{log: l, every: every}
}

// Printf is fasthttp's Logger.
func (l *redactingLogger) Printf(format string, args ...any) { l.line(fmt.Sprintf(format, args...)) }

// Write takes the lines of a log.Logger (net/http's ErrorLog).
func (l *redactingLogger) Write(p []byte) (int, error) {
	l.line(string(p))
	return len(p), nil
}

// stdlog is a log.Logger writing through l, for net/http.
func (l *redactingLogger) stdlog() *log.Logger { return log.New(l, "", 0) }

func (l *redactingLogger) line(msg string) {
	now := time.Now()
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	held := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	l.log.Warn(redact(strings.TrimSpace(msg)), "similar_lines_held_back", held)
}

var (
	// A header's value runs to the end of its line, which in a quoted buffer is a literal \r or \n.
	secretHeader = regexp.MustCompile(`(?i)(authorization|cookie|x-api-key)(\s*:\s*)[^\r\n\\"]*`)
	secretParam  = regexp.MustCompile(`(?i)([?&;](?:sig|token|access_token|key|secret|password)=)[^&\s"\\#]*`)
	bearer       = regexp.MustCompile(`(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+`)
)

// redact removes the values of credentials from a log line: header values, query parameters that
// carry secrets, bearer tokens.
func redact(s string) string {
	s = secretHeader.ReplaceAllString(s, "${1}${2}[redacted]")
	s = secretParam.ReplaceAllString(s, "${1}[redacted]")
	return bearer.ReplaceAllString(s, "${1}[redacted]")
}
