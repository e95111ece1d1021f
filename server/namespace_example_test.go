package server_test

import (
	"context"
	"errors"
	"log"
	"os"

	"github.com/entreactive/reactive/server"
)

// A namespace of its own next to the reactive one: clients connect with
// io("https://host/chat", {auth: {ticket}}).
func ExampleServer_Namespace() {
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(os.Getenv("JWT_SECRET"))}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close(context.Background())

	chat, err := srv.Namespace("/chat")
	if err != nil {
		log.Fatal(err)
	}
	chat.Use(func(ctx context.Context, c *server.Conn) error {
		if c.Handshake().Auth["ticket"] == nil {
			return errors.New("no ticket")
		}
		return nil
	})
	chat.OnConnect(func(ctx context.Context, c *server.Conn) { _ = c.Join("lobby") })
	_ = chat.On("say", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		return nil, chat.EmitToRooms([]string{"lobby"}, "said", args...)
	})
}
