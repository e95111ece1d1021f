package server_test

import (
	"context"
	"embed"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/entreactive/reactive/server"
)

//go:embed testdata/bundle
var embeddedBundle embed.FS

// getBody fetches url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestClientBundleFromAnFS(t *testing.T) {
	embedded, err := fs.Sub(embeddedBundle, "testdata/bundle")
	if err != nil {
		t.Fatal(err)
	}
	wantEmbedded, err := os.ReadFile("testdata/bundle/socket.io.min.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		fsys  fs.FS
		files map[string]string // served path → body
	}{
		{"MapFS", fstest.MapFS{
			"socket.io.js":         {Data: []byte("/* full */")},
			"socket.io.min.js":     {Data: []byte("/* min */")},
			"socket.io.min.js.map": {Data: []byte(`{"version":3}`)},
			"secret.txt":           {Data: []byte("no")},
			"sub/socket.io.js":     {Data: []byte("no")},
		}, map[string]string{
			"socket.io.js":         "/* full */",
			"socket.io.min.js":     "/* min */",
			"socket.io.min.js.map": `{"version":3}`,
		}},
		{"embed", embedded, map[string]string{"socket.io.min.js": string(wantEmbedded)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, url := startServer(t, server.Config{ClientFS: tc.fsys})
			for name, want := range tc.files {
				code, body := getBody(t, url+"/socket.io/"+name)
				if code != http.StatusOK || body != want {
					t.Errorf("%s: %d %q, want 200 %q", name, code, body, want)
				}
			}
			for _, p := range []string{"secret.txt", "README.txt", "sub/socket.io.js", "../socket.io.js", "socket.io.esm.min.js"} {
				if code, _ := getBody(t, url+"/socket.io/"+p); code != http.StatusNotFound {
					t.Errorf("%s: %d, want 404", p, code)
				}
			}
			// The Socket.IO endpoint still answers beside the bundle.
			if code, body := getBody(t, url+"/socket.io/?EIO=4&transport=polling"); code != http.StatusOK || !strings.HasPrefix(body, "0{") {
				t.Errorf("handshake beside the bundle: %d %q", code, body)
			}
		})
	}
}

func TestClientFSMistakesFailAtNew(t *testing.T) {
	for name, cfg := range map[string]server.Config{
		// The embed without fs.Sub: the bundle sits under testdata/bundle.
		"bundle not at the root": {ClientFS: embeddedBundle},
		"no bundle file":         {ClientFS: fstest.MapFS{"index.html": {Data: []byte("x")}}},
		"both dir and FS":        {ClientDir: "testdata/bundle", ClientFS: fstest.MapFS{"socket.io.js": {}}},
	} {
		cfg.JWT.Secret = testSecret
		if _, err := server.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "server: ") {
			t.Errorf("%s: New() err = %v", name, err)
		}
	}
}

// The browser bundle embedded in the binary (here a stand-in under
// testdata; an app embeds node_modules/socket.io-client/dist, or a copy of
// it): no npm at run time.
func ExampleConfig_clientFS() {
	bundle, err := fs.Sub(embeddedBundle, "testdata/bundle")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{
		JWT:      server.JWT{Secret: []byte(os.Getenv("JWT_SECRET"))},
		ClientFS: bundle, // serves /socket.io/socket.io.min.js
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
}
