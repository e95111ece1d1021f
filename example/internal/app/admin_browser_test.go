package app_test

import (
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server/admin"
)

// adminScreenshot is where TestAdminUI keeps its screenshot of the
// example's sockets in the Admin UI when ADMIN_UI_SCREENSHOT=1 (the
// docs/admin-ui.md shows it).
const adminScreenshot = "../../../docs/admin-ui.png"

// TestAdminUI serves the example with the official Socket.IO Admin UI
// (npm @socket.io/admin-ui, its built ui/dist), logs into it in headless
// Chromium, checks that it lists the connected Go, npm and browser
// sockets with their users and rooms, and disconnects one from the UI.
func TestAdminUI(t *testing.T) {
	exe, bundle := chromium(t)
	uiDir, err := filepath.Abs(filepath.Join(webDir, "node_modules", "@socket.io", "admin-ui", "ui", "dist"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(uiDir, "index.html")); err != nil {
		missing(t, "the Admin UI is not installed: run `npm ci --prefix example/web`")
	}
	const password = "admin-ui-test-password"
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, app.Config{ClientDir: bundle, Admin: &app.AdminConfig{
		Admin:    admin.Config{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}, ServerID: "example"},
		UIDir:    uiDir,
		FontsDir: filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(uiDir)))), // node_modules
	}})

	// The example's sockets: two Go clients (one with a device id), an npm
	// client in a conversation room, and the example's page in a tab.
	alice := e.connect(1)
	bob := e.connect(2)
	e.login(3)
	conv := e.conversation(alice, 2, 3)
	room := fmt.Sprintf("conversation_%d", conv)
	if !e.join(alice, room) {
		t.Fatalf("join %s refused", room)
	}
	phone, err := sioclient.Dial(testkit.Context(t), e.url, sioclient.Options{Auth: map[string]any{"device_id": "phone-7", "token": e.login(4)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(phone.Close)
	_, before := e.startNode("--user", "3", "--join", room)
	var npmID string
	for _, l := range before {
		if l.Step == "connected" {
			var d struct{ SocketID string }
			_ = json.Unmarshal(l.Data, &d)
			npmID = d.SocketID
		}
	}
	if npmID == "" {
		t.Fatalf("listen.mjs printed no socket id: %+v", before)
	}

	browser := newBrowser(t, exe)
	newTab := func(name string) *page {
		ctx, cancel := chromedp.NewContext(browser)
		t.Cleanup(cancel)
		return &page{t: t, name: name, ctx: ctx}
	}
	chat := newTab("chat")
	chat.login(e.url, 5)

	ui := newTab("admin")
	ui.run(
		chromedp.EmulateViewport(1280, 800),
		chromedp.Navigate(e.url+"/admin/"),
		chromedp.WaitVisible(chromedp.CSS(".v-dialog form input[type=password]")),
	)
	// The login form's fields are Vue-bound: set them the way typing does.
	waitUI(ui, "the login form", fmt.Sprintf(`(() => {
		const inputs = [...document.querySelectorAll(".v-dialog form input")];
		const set = (el, v) => { el.value = v; el.dispatchEvent(new Event("input", {bubbles: true})); };
		set(inputs[0], %s);
		set(inputs[1], "admin");
		set(document.querySelector(".v-dialog form input[type=password]"), %s);
		return true;
	})()`, jsExpr(e.url), jsExpr(password)))
	// Vue enables the button on its next tick; it is clicked from
	// JavaScript, as the dialog may still be sliding in.
	waitUI(ui, "the connect button", `(() => {
		const b = document.querySelector(".v-dialog form button[type=submit]");
		if (b.disabled) return false;
		b.click();
		return true;
	})()`)
	waitUI(ui, "the login", `[...document.querySelectorAll(".v-chip")].some(c => c.textContent.trim().toLowerCase() === "connected")`)

	// The socket list shows every socket of the example, with its
	// transport, and the socket's page its user in data.
	ui.run(chromedp.Navigate(e.url + "/admin/#/sockets/"))
	ids := []string{alice.sock.ID(), bob.sock.ID(), phone.ID(), npmID}
	for _, id := range ids {
		waitUI(ui, "socket "+id, `document.querySelector(".v-data-table") && document.querySelector(".v-data-table").textContent.includes(`+jsExpr(id)+`)`)
	}
	waitUI(ui, "the page's socket", `document.querySelectorAll(".v-data-table tbody tr").length === 5`)
	waitUI(ui, "websocket transports", `document.querySelector(".v-data-table").textContent.includes("WebSocket")`)
	// The UI's fonts come from the app, not from a CDN (the browser reaches
	// no other host): the icon font is loaded, so each action button shows
	// its icon, a glyph as wide as the icon box, instead of an empty box;
	// and the text is set in Roboto.
	waitUI(ui, "the icon font and Roboto, served by the app", `(() => {
		const loaded = family => [...document.fonts].some(f => f.family.replace(/"/g, "") === family && f.status === "loaded");
		return loaded("Material Design Icons") && loaded("Roboto");
	})()`)
	waitUI(ui, "an icon drawn in the disconnect button", `(() => {
		const icon = document.querySelector(".v-data-table tbody tr button .v-icon.mdi");
		if (!icon) return false;
		const style = getComputedStyle(icon, "::before");
		if (!style.fontFamily.includes("Material Design Icons") || style.content === "none") return false;
		const c = document.createElement("canvas").getContext("2d");
		c.font = "24px 'Material Design Icons'";
		const glyph = JSON.parse(style.content);
		return document.fonts.check("24px 'Material Design Icons'", glyph) && c.measureText(glyph).width >= 20;
	})()`)
	if os.Getenv("ADMIN_UI_SCREENSHOT") == "1" {
		img := ui.screenshot()
		f, err := os.Create(adminScreenshot)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", adminScreenshot)
	}

	ui.run(chromedp.Navigate(e.url + "/admin/#/n/%2F/sockets/" + phone.ID()))
	waitUI(ui, "the phone's user and device", `document.body.textContent.includes('"userId": "4"') && document.body.textContent.includes('"deviceId": "phone-7"')`)

	// The rooms: the server's rooms and the conversation with its two members.
	ui.run(chromedp.Navigate(e.url + "/admin/#/rooms/"))
	for _, r := range []string{room, "users", "user_4_device_phone-7", "device_phone-7"} {
		waitUI(ui, "room "+r, `document.querySelector(".v-data-table") && [...document.querySelectorAll(".v-data-table tbody tr")].some(tr => tr.cells[0].textContent.trim() === `+jsExpr(r)+`)`)
	}
	waitUI(ui, "the room's two members", `[...document.querySelectorAll(".v-data-table tbody tr")].some(tr => tr.cells[0].textContent.trim() === `+jsExpr(room)+` && tr.textContent.includes("2"))`)

	// Disconnect bob from the socket list: the server lets it go, and the
	// UI drops it.
	ui.run(chromedp.Navigate(e.url + "/admin/#/sockets/"))
	bobID := bob.sock.ID()
	waitUI(ui, "bob's row and its disconnect button", `(() => {
		const tr = [...document.querySelectorAll(".v-data-table tbody tr")].find(tr => tr.textContent.includes(`+jsExpr(bobID)+`));
		const btn = tr && tr.querySelector("button");
		if (!btn || btn.disabled) return false;
		btn.click();
		return true;
	})()`)
	if _, err := bob.sock.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if testkit.Online(t, e.app.Server(), 2) {
		t.Errorf("user 2 still online after the disconnect")
	}
	ui.run(chromedp.Navigate(e.url + "/admin/#/sockets/"))
	waitUI(ui, "bob gone from the list", `document.querySelector(".v-data-table") && !document.querySelector(".v-data-table").textContent.includes(`+jsExpr(bobID)+`) && document.querySelector(".v-data-table").textContent.includes(`+jsExpr(alice.sock.ID())+`)`)
	if !alice.sock.Connected() || !phone.Connected() {
		t.Errorf("the disconnect reached other sockets")
	}
}

// waitUI waits until the JavaScript expression is true in the Admin UI's
// tab; on a timeout the test fails with the text the UI shows.
func waitUI(p *page, what, expr string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond), chromedp.WithPollingTimeout(testkit.Wait)))
	if err != nil {
		text, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("%s: waiting for %s: %v; the UI shows:\n%s", p.name, what, err, text)
	}
}
