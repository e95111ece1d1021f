package app_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

// chromium returns the path of Debian's chromium (or $CHROMIUM) and the
// socket.io-client bundle directory, skipping the test locally, or failing
// it in CI, when either is missing.
func chromium(t *testing.T) (exe, bundle string) {
	t.Helper()
	exe = os.Getenv("CHROMIUM")
	if exe == "" {
		var err error
		if exe, err = exec.LookPath("chromium"); err != nil {
			missing(t, "chromium is not installed: apt-get install -y chromium")
		}
	}
	bundle, err := filepath.Abs(filepath.Join(webDir, "node_modules", "socket.io-client", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bundle, "socket.io.js")); err != nil {
		missing(t, "the socket.io-client bundle is not installed: run `npm ci --prefix example/web`")
	}
	return exe, bundle
}

// newBrowser starts headless Chromium for the test (90 s at most) and
// returns its context; tabs are chromedp.NewContext of it.
func newBrowser(t *testing.T, exe string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Only the test's server is reachable: other hosts (the Admin UI's
		// web fonts) fail at once instead of waiting on a network.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// page is one browser tab on the app.
type page struct {
	t    *testing.T
	name string
	ctx  context.Context

	mu     sync.Mutex
	errors []string // uncaught exceptions and console errors
}

func (p *page) run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
}

// waitJS waits until the JavaScript expression is true in the page.
func (p *page) waitJS(what, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(testkit.Wait)))
	if err != nil {
		status, _ := chromedp.Run(p.ctx, chromedp.TextContent(chromedp.CSS("#status-text")))
		p.t.Fatalf("%s: waiting for %s: %v (status line: %q)", p.name, what, err, status)
	}
}

// login logs the page in as user id and waits until its socket is
// authenticated.
func (p *page) login(url string, id int) {
	p.t.Helper()
	p.run(
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SetValue(chromedp.CSS("#user-id"), fmt.Sprint(id)),
		chromedp.Click(chromedp.CSS("#login-form button")),
		chromedp.WaitVisible(chromedp.CSS("#app-panel")),
	)
	p.waitJS("the socket to authenticate", fmt.Sprintf(`document.querySelector("#status-text").textContent.includes("user %d")`, id))
}

// messageTexts returns the texts of the open conversation, in order.
func (p *page) messageTexts() []string {
	p.t.Helper()
	texts, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#messages li .text")].map(e => e.textContent)`))
	if err != nil {
		p.t.Fatalf("%s: %v", p.name, err)
	}
	return texts
}

func (p *page) screenshot() image.Image {
	p.t.Helper()
	buf, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	img, err := png.Decode(bytes.NewReader(buf))
	if err != nil {
		p.t.Fatalf("%s: screenshot: %v", p.name, err)
	}
	return img
}

// openTab opens a tab in the browser, recording its JavaScript errors.
func openTab(browserCtx context.Context, t *testing.T, name string) *page {
	tabCtx, cancelTab := chromedp.NewContext(browserCtx)
	t.Cleanup(cancelTab)
	p := &page{t: t, name: name, ctx: tabCtx}
	err := chromedp.Listen(tabCtx, func(ev any) {
		var msg string
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			msg = fmt.Sprintf("exception %s at %s:%d", d.Text, d.URL, d.LineNumber+1)
			if d.Exception != nil {
				msg += ": " + d.Exception.Description
			}
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				msg = "console.error " + strings.Join(parts, " ")
			}
		}
		if msg != "" {
			p.mu.Lock()
			p.errors = append(p.errors, msg)
			p.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// jsExpr quotes s as a JavaScript string literal.
func jsExpr(s string) string { return fmt.Sprintf("%q", s) }

// TestBrowser opens the page in two tabs of headless Chromium, logs them in
// as two users and checks that a message sent, edited and deleted in one
// tab shows up live in the other, and a notification in both.
func TestBrowser(t *testing.T) {
	exe, bundle := chromium(t)
	e := start(t, app.Config{ClientDir: bundle})

	browserCtx := newBrowser(t, exe)

	one, two := openTab(browserCtx, t, "tab 1"), openTab(browserCtx, t, "tab 2")
	one.login(e.url, 1)
	two.login(e.url, 2)

	// Tab 1 opens a conversation with user 2 and joins its room.
	one.run(
		chromedp.SetValue(chromedp.CSS("#peer-id"), "2"),
		chromedp.Click(chromedp.CSS("#new-conv-form button")),
		chromedp.WaitVisible(chromedp.CSS("#composer")),
	)
	one.waitJS("the room", `document.querySelector("#status-text").textContent.includes("conversation_1")`)

	// Tab 1 sends; tab 2 shows it without a reload.
	const hello = "Héllo from tab 1 <b>not bold</b>" // text, never HTML
	one.run(
		chromedp.SetValue(chromedp.CSS("#text"), hello),
		chromedp.Click(chromedp.CSS("#composer button")),
	)
	one.waitJS("the sent message", `[...document.querySelectorAll("#messages li .text")].some(e => e.textContent === `+jsExpr(hello)+`)`)
	two.waitJS("the live message", `[...document.querySelectorAll("#messages li .text")].some(e => e.textContent === `+jsExpr(hello)+`)`)
	two.waitJS("the room", `document.querySelector("#status-text").textContent.includes("conversation_1")`)
	if got := two.messageTexts(); len(got) != 1 || got[0] != hello {
		t.Fatalf("tab 2 shows %q, want [%q]", got, hello)
	}
	title, err := chromedp.Run(two.ctx, chromedp.TextContent(chromedp.CSS("#chat-title")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "with user 1") {
		t.Errorf("tab 2's chat title %q, want the conversation with user 1", title)
	}

	// Tab 2 replies; tab 1 shows it.
	const reply = "Hi tab 1, tab 2 here"
	two.run(
		chromedp.SetValue(chromedp.CSS("#text"), reply),
		chromedp.Click(chromedp.CSS("#composer button")),
	)
	one.waitJS("the reply", `[...document.querySelectorAll("#messages li .text")].some(e => e.textContent === `+jsExpr(reply)+`)`)

	// Tab 2 broadcasts a notification; both feeds show it.
	const note = "Deploy at 5pm"
	two.run(
		chromedp.SetValue(chromedp.CSS("#notify-text"), note),
		chromedp.Click(chromedp.CSS("#notify-form button")),
	)
	for _, p := range []*page{one, two} {
		p.waitJS("the notification", `[...document.querySelectorAll("#notifications li .text")].some(e => e.textContent === `+jsExpr(note)+`)`)
	}

	shots := []image.Image{one.screenshot(), two.screenshot()}

	// Tab 1 edits its message; tab 2 shows the new text.
	const edited = "Héllo from tab 1 (edited)"
	one.run(
		chromedp.Click(chromedp.CSS(`#messages li.mine .edit-btn`)),
		chromedp.WaitVisible(chromedp.CSS(`#messages li.mine form.edit input`)),
		chromedp.SetValue(chromedp.CSS(`#messages li.mine form.edit input`), edited),
		chromedp.Click(chromedp.CSS(`#messages li.mine form.edit button[type=submit]`)),
	)
	two.waitJS("the live edit", `[...document.querySelectorAll("#messages li .text")].some(e => e.textContent === `+jsExpr(edited)+`)`)
	if got := two.messageTexts(); len(got) != 2 || got[0] != edited || got[1] != reply {
		t.Fatalf("tab 2 shows %q after the edit, want [%q %q]", got, edited, reply)
	}

	// Tab 1 deletes it; tab 2 drops it.
	one.run(chromedp.Click(chromedp.CSS(`#messages li.mine .delete-btn`)))
	two.waitJS("the live delete", `document.querySelectorAll("#messages li").length === 1`)
	if got := two.messageTexts(); len(got) != 1 || got[0] != reply {
		t.Fatalf("tab 2 shows %q after the delete, want [%q]", got, reply)
	}

	for _, p := range []*page{one, two} {
		p.mu.Lock()
		if len(p.errors) > 0 {
			t.Errorf("%s had JavaScript errors: %q", p.name, p.errors)
		}
		p.mu.Unlock()
	}

	// Keep the screenshot of both tabs, side by side, after the test.
	dir, err := os.MkdirTemp("", "entreactive-example-browser-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "two-tabs.png")
	if err := writeSideBySide(path, shots); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of both tabs: %s", path)
}

// writeSideBySide writes imgs next to each other, with a gap, as one PNG.
func writeSideBySide(path string, imgs []image.Image) error {
	const gap = 12
	w, h := 0, 0
	for _, img := range imgs {
		w += img.Bounds().Dx() + gap
		h = max(h, img.Bounds().Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w-gap, h))
	draw.Draw(out, out.Bounds(), image.NewUniform(color.RGBA{0x40, 0x44, 0x4c, 0xff}), image.Point{}, draw.Src)
	x := 0
	for _, img := range imgs {
		r := img.Bounds()
		draw.Draw(out, image.Rect(x, 0, x+r.Dx(), r.Dy()), img, r.Min, draw.Src)
		x += r.Dx() + gap
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, out); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
