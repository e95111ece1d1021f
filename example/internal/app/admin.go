package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/entreactive/reactive/server/admin"
	"github.com/entreactive/reactive/server/metrics"
)

// AdminConfig turns on the Socket.IO Admin UI (see Config.Admin).
type AdminConfig struct {
	// Admin configures the protocol: login, read-only mode...
	Admin admin.Config
	// UIDir is the directory of the UI's built files, the ui/dist of the
	// npm package @socket.io/admin-ui, served at /admin/. When empty only
	// the protocol runs: point a UI hosted elsewhere (such as
	// https://admin.socket.io) at the app.
	UIDir string
	// FontsDir is a node_modules directory holding the npm packages
	// @mdi/font and @fontsource/roboto: the UI's icon and text fonts are
	// then served with it, under /admin/fonts/, instead of from the public
	// CDNs its index.html names, so that the UI works on a network without
	// internet (without its icon font every action button is an empty
	// box). When empty, the UI loads its fonts from the CDNs.
	FontsDir string
}

// The stylesheets the Admin UI's index.html (@socket.io/admin-ui 0.5.x)
// loads from CDNs, and the weights of Roboto the first one asks for.
const (
	robotoCDN = `<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto:100,300,400,500,700,900">`
	mdiCDN    = `<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/@mdi/font@latest/css/materialdesignicons.min.css">`
)

var robotoWeights = []string{"100", "300", "400", "500", "700", "900"}

// The font packages' directories under AdminConfig.FontsDir.
const (
	mdiPackage    = "@mdi/font"
	robotoPackage = "@fontsource/roboto"
)

// startAdmin starts the Admin UI's protocol on the app's Socket.IO server
// and reads the UI's index.html.
func (a *App) startAdmin(cfg *AdminConfig) error {
	if cfg.UIDir != "" {
		index, err := adminIndex(cfg)
		switch {
		case errors.Is(err, errNoCDNFonts):
			a.log.Warn("app: admin UI: served as it is, without the fonts of FontsDir", "err", err)
		case err != nil:
			return fmt.Errorf("app: admin UI: %w", err)
		}
		a.adminIndex = index
		if cfg.FontsDir == "" {
			a.log.Warn("the Admin UI loads its fonts from public CDNs: without internet its buttons show empty boxes. " +
				"Run `npm ci --prefix example/web` to serve them with the UI")
		}
	}
	adm, err := admin.New(a.srv, cfg.Admin)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.admin = adm
	if a.registry != nil {
		if err := a.registry.Register(metrics.AdminCollector(adm)); err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = adm.Close(ctx)
			return fmt.Errorf("app: admin metrics: %w", err)
		}
	}
	return nil
}

// errNoCDNFonts is returned, with the index.html as it is, for a UI whose
// index.html does not load the CDN stylesheets of @socket.io/admin-ui 0.5.
var errNoCDNFonts = errors.New("the UI does not load its fonts from the CDN URLs of @socket.io/admin-ui 0.5")

// adminIndex returns the UI's index.html; with cfg.FontsDir, its CDN
// stylesheets replaced by those served under /admin/fonts/.
func adminIndex(cfg *AdminConfig) ([]byte, error) {
	index, err := os.ReadFile(filepath.Join(cfg.UIDir, "index.html"))
	if err != nil {
		return nil, err
	}
	if cfg.FontsDir == "" {
		return index, nil
	}
	for _, file := range []string{
		filepath.Join(cfg.FontsDir, mdiPackage, "css", "materialdesignicons.min.css"),
		filepath.Join(cfg.FontsDir, robotoPackage, "400.css"),
	} {
		if _, err := os.Stat(file); err != nil {
			return nil, fmt.Errorf("fonts: %w (npm ci --prefix example/web installs them)", err)
		}
	}
	if !bytes.Contains(index, []byte(robotoCDN)) || !bytes.Contains(index, []byte(mdiCDN)) {
		// Another version of the UI, or another UI: served as it is.
		return index, errNoCDNFonts
	}
	var roboto strings.Builder
	for _, w := range robotoWeights {
		fmt.Fprintf(&roboto, `<link rel="stylesheet" href="fonts/roboto/%s.css">`, w)
	}
	index = bytes.Replace(index, []byte(robotoCDN), []byte(roboto.String()), 1)
	index = bytes.Replace(index, []byte(mdiCDN), []byte(`<link rel="stylesheet" href="fonts/mdi/css/materialdesignicons.min.css">`), 1)
	return index, nil
}

// adminUI serves the Admin UI under /admin/: its index.html (see
// adminIndex), its files, and with AdminConfig.FontsDir the fonts.
func (a *App) adminUI(cfg *AdminConfig) http.Handler {
	mux := http.NewServeMux()
	serveIndex := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(a.adminIndex)
	}
	mux.HandleFunc("GET /admin/{$}", serveIndex)
	mux.HandleFunc("GET /admin/index.html", serveIndex)
	mux.Handle("GET /admin/", http.StripPrefix("/admin/", http.FileServerFS(os.DirFS(cfg.UIDir))))
	if cfg.FontsDir != "" {
		mdi := filepath.Join(cfg.FontsDir, mdiPackage)
		mux.Handle("GET /admin/fonts/mdi/css/", http.StripPrefix("/admin/fonts/mdi/", http.FileServerFS(os.DirFS(mdi))))
		mux.Handle("GET /admin/fonts/mdi/fonts/", http.StripPrefix("/admin/fonts/mdi/", http.FileServerFS(os.DirFS(mdi))))
		mux.Handle("GET /admin/fonts/roboto/", http.StripPrefix("/admin/fonts/roboto/",
			http.FileServerFS(os.DirFS(filepath.Join(cfg.FontsDir, robotoPackage)))))
	}
	return mux
}
