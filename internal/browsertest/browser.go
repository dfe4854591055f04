// Package browsertest starts Debian's headless Chromium for tests, through the DevTools protocol
// (chromedp), so that cookie attributes, pixels and pages are checked in a real browser.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"
)

// UserAgent is the agent the test browser sends: desktop Chrome on Linux.
const UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// Path is where Debian's chromium package puts the browser.
const Path = "/usr/bin/chromium"

// New returns a browser tab context that lives until the test ends. hostRules, when given, is
// passed as --host-resolver-rules (for example "MAP *.firstclaim.test 127.0.0.1"), so tests can
// use real host names and same-site cookies. Without Chromium the test fails, unless -short.
func New(t testing.TB, hostRules string) context.Context {
	t.Helper()
	path := Path
	if p := os.Getenv("FIRSTCLAIM_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		if testing.Short() {
			t.Skip("chromium not installed; -short skips browser tests")
		}
		t.Fatalf("chromium not found at %s (apt-get install -y chromium, or make deps): %v", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.WindowSize(1280, 900),
		// Headless Chromium says "HeadlessChrome", which the crawler list rightly calls a bot;
		// the tests play a person's browser.
		chromedp.UserAgent(UserAgent),
	)
	if hostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", hostRules))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	// Start the browser now, so a failure to start is reported here.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("cannot start chromium: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return ctx
}

// Do runs actions in the tab, in order, with a timeout.
func Do(t testing.TB, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// Cookies returns every cookie the browser holds.
func Cookies(t testing.TB, ctx context.Context) []*network.Cookie {
	t.Helper()
	res, err := chromedp.CallBrowser(ctx, storage.GetCookies, storage.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Cookies
}
