package outbox_test

import (
	"context"
	"log"
	"net/http"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/server"
)

// The durable path on one process: the server publishes what the outbox
// relays. With a cluster, give the server a redisbroker.Broker and every
// node an Outbox on the shared database; a worker that only writes uses a
// redisbroker.Emitter as its publisher.
func Example() {
	ctx := context.Background()
	drv, err := entsql.Open(dialect.SQLite, "file:app.db?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte("a secret of at least thirty-two bytes")}})
	if err != nil {
		log.Fatal(err)
	}
	ob, err := outbox.New(ctx, drv, srv, outbox.Config{})
	if err != nil {
		log.Fatal(err)
	}
	client := testent.NewClient(testent.Driver(drv), testent.Emitter(ob)) // your ent.NewClient
	defer func() {
		_ = ob.Close(ctx) // the relay first: what is left is published on the next start
		_ = srv.Close(ctx)
		_ = client.Close()
	}()
	http.Handle("/socket.io/", srv)
	// client.Message.Create()...: the event is stored with the row, and
	// published once the commit is done.
}
