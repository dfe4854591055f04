package redirect

import (
	"crypto/subtle"
	"github.com/firstclaim/firstclaim/internal/routes"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/VictoriaMetrics/metrics"
)

// AdminOptions configure the admin listener's handler.
type AdminOptions struct {
	// Token guards every endpoint but /healthz and /readyz (Authorization: Bearer TOKEN). Without
	// a token those endpoints answer 403: they are never open by accident.
	Token   string
	Metrics *metrics.Set
	Ready   func() bool // false while draining
	// Writable, when set, is false while the events cannot be kept (the spool's disk refuses
	// writes): not ready then either, so a load balancer sends the traffic elsewhere.
	Writable func() bool
}

// AdminHandler serves /healthz (the process is up), /readyz (it takes traffic: links loaded, not
// draining), /metrics (Prometheus text format) and /debug/pprof/ (profiles). Add report routes to the returned mux with
// RequireToken.
func AdminHandler(opts AdminOptions) *routes.Mux {
	mux := routes.New()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if opts.Ready != nil && !opts.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("draining\n"))
			return
		}
		if opts.Writable != nil && !opts.Writable() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("cannot keep events: the spool's disk refuses writes\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", RequireToken(opts.Token, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		opts.Metrics.WritePrometheus(w)
		// The runtime's and the process's own: collections, heap, CPU, memory, open files.
		metrics.WriteProcessMetrics(w)
	})))
	// Profiles, for the operator who must find where the time goes (go tool pprof with the token in
	// a header file, or curl -H then go tool pprof FILE).
	mux.Handle("GET /debug/pprof/", RequireToken(opts.Token, http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/profile", RequireToken(opts.Token, http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/trace", RequireToken(opts.Token, http.HandlerFunc(pprof.Trace)))
	return mux
}

// RequireToken lets a request through only with "Authorization: Bearer TOKEN", compared in
// constant time.
func RequireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" {
			http.Error(w, "admin endpoints are disabled: start the server with --admin-token", http.StatusForbidden)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="firstclaim"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// AdminRoutes are the admin handler's own routes, as registered (reports and links add theirs).
func AdminRoutes() []string { return AdminHandler(AdminOptions{}).Patterns() }

// PublicRoutes are the public listener's routes (Server.Handler), in the form of http.ServeMux's
// patterns.
func PublicRoutes() []string {
	return []string{
		"GET /r/{code}",
		"GET " + string(pathImpressionPixel),
		"GET " + string(pathAssocPixel),
		"POST " + string(pathAssocAPI),
		"GET " + string(pathHealth),
	}
}
