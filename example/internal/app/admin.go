package app

import (
	"fmt"
	"net/http"
	"os"

	"github.com/entreactive/reactive/server/admin"
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
}

// startAdmin starts the Admin UI's protocol on the app's Socket.IO server.
func (a *App) startAdmin(cfg *AdminConfig) error {
	if cfg.UIDir != "" {
		fi, err := os.Stat(cfg.UIDir)
		if err != nil {
			return fmt.Errorf("app: admin UI: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("app: admin UI: %s is not a directory", cfg.UIDir)
		}
	}
	adm, err := admin.New(a.srv, cfg.Admin)
	if err != nil {
		return fmt.Errorf("app: %w", err)
	}
	a.admin = adm
	return nil
}

// adminUI serves the Admin UI's files under /admin/.
func (a *App) adminUI(dir string) http.Handler {
	return http.StripPrefix("/admin/", http.FileServerFS(os.DirFS(dir)))
}
