package redirect

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// /readyz says not ready while draining, and while the events cannot be kept (a full spool disk).
func TestReadyzFollowsDrainingAndTheSpool(t *testing.T) {
	ready, writable := true, true
	h := AdminHandler(AdminOptions{Ready: func() bool { return ready }, Writable: func() bool { return writable }})
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, _ := get(); code != http.StatusOK {
		t.Fatalf("ready: %d", code)
	}
	writable = false
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "spool") {
		t.Fatalf("spool refusing writes: %d %q", code, body)
	}
	writable, ready = true, false
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "draining") {
		t.Fatalf("draining: %d %q", code, body)
	}
}
