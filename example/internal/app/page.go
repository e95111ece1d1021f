package app

import (
	"io/fs"
	"net/http"
	"strings"

	"github.com/entreactive/reactive/example/web"
)

// pageHeaders are set on the page and its files.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'")
}

// page serves the web page at /.
func (a *App) page(w http.ResponseWriter, r *http.Request) error {
	pageHeaders(w)
	http.ServeFileFS(w, r, web.Static(), "index.html")
	return nil
}

// static serves the page's files under /static/.
func (a *App) static(w http.ResponseWriter, r *http.Request) error {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if name == "" || strings.HasSuffix(name, "/") || !fs.ValidPath(name) {
		http.NotFound(w, r)
		return nil
	}
	pageHeaders(w)
	http.ServeFileFS(w, r, web.Static(), name)
	return nil
}
