// Package web holds the example app's page: plain HTML, CSS and JavaScript,
// served as they are, with no build step. The Socket.IO browser client is
// not here: it comes from the npm package socket.io-client, installed into
// this directory's node_modules by `npm ci --prefix example/web`.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// Static returns the page's files: index.html, app.js and style.css.
func Static() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // "static" is a valid path: it cannot fail
	}
	return sub
}
