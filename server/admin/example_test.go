package admin_test

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/admin"
)

// Serve the Socket.IO Admin UI's protocol next to the reactive events,
// with the UI's built files (npm @socket.io/admin-ui's ui/dist) at /admin/.
func ExampleNew() {
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(os.Getenv("JWT_SECRET"))}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())

	a, err := admin.New(srv, admin.Config{
		// A bcrypt hash, e.g. from bcrypt.GenerateFromPassword.
		Auth:     &admin.BasicAuth{Username: "admin", PasswordHash: os.Getenv("ADMIN_PASSWORD_HASH")},
		ReadOnly: os.Getenv("ADMIN_READONLY") == "1",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("/admin/", http.StripPrefix("/admin/", http.FileServer(http.Dir("node_modules/@socket.io/admin-ui/ui/dist"))))
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}
