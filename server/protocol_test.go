package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

func allowConversations(ctx context.Context, r server.JoinRequest) (bool, error) {
	return r.User != nil && strings.HasPrefix(r.Room, "conversation_"), nil
}

func TestProtocol(t *testing.T) {
	for _, tr := range transportsUnderTest {
		t.Run(tr.String(), func(t *testing.T) {
			srv, url := startServer(t, server.Config{Authorize: allowConversations})
			c := testkit.Dial(t, url, sioclient.Options{Transport: tr, Auth: map[string]any{"device_id": "phone-1"}})
			ctx := testkit.Context(t)

			// connected
			args, err := c.Next(ctx, "connected")
			if err != nil {
				t.Fatal(err)
			}
			got := args[0].(map[string]any)
			if got["socketId"] != c.ID() || got["deviceId"] != "phone-1" {
				t.Fatalf("connected = %v, socket %s", got, c.ID())
			}
			if ts, _ := got["timestamp"].(float64); ts < float64(time.Now().Add(-time.Minute).UnixMilli()) {
				t.Fatalf("connected timestamp %v is not ms since epoch", got["timestamp"])
			}
			if testkit.RoomSize(t, srv, "guests") != 1 || testkit.RoomSize(t, srv, "all") != 1 || !testkit.DeviceOnline(t, srv, "phone-1") {
				t.Fatalf("rooms after connect: %v", srv.Stats().Rooms)
			}

			// auth with ack, then authenticated
			authAs(t, c, 7)
			args, err = c.Next(ctx, "authenticated")
			if err != nil {
				t.Fatal(err)
			}
			got = args[0].(map[string]any)
			if got["userId"] != float64(7) || got["deviceId"] != "phone-1" || got["socketId"] != c.ID() {
				t.Fatalf("authenticated = %v", got)
			}
			for _, room := range []string{"all", "users", "user_7", "user_7_device_phone-1", "device_phone-1"} {
				if testkit.RoomSize(t, srv, room) != 1 {
					t.Fatalf("room %s: size %d; rooms %v", room, testkit.RoomSize(t, srv, room), srv.Stats().Rooms)
				}
			}
			if testkit.RoomSize(t, srv, "guests") != 0 || !testkit.Online(t, srv, 7) || testkit.Users(t, srv) != 1 {
				t.Fatalf("after auth: %+v", srv.Stats())
			}

			// targeted reactive event
			ev := entreactive.Event{
				Action: entreactive.ActionUpdate, Model: "Message", ID: 3,
				Data: map[string]any{"id": 3, "text": "hi"}, Changed: []string{"text"}, Timestamp: time.UnixMilli(1700000000000),
			}
			if err := srv.Emit(ctx, entreactive.ToUserIDs(7), ev); err != nil {
				t.Fatal(err)
			}
			args, err = c.Next(ctx, "reactive")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(args[0])
			want := `{"action":"update","changed":["text"],"data":{"id":3,"text":"hi"},"id":3,"model":"Message","timestamp":1700000000000}`
			if string(b) != want {
				t.Fatalf("reactive = %s\nwant      %s", b, want)
			}

			// join / leave with the authorizer
			ack, err := c.EmitAck(ctx, "join", "conversation_1")
			if err != nil || !testkit.AckSuccess(ack) {
				t.Fatalf("join: %v %v", ack, err)
			}
			if testkit.RoomSize(t, srv, "conversation_1") != 1 {
				t.Fatal("not in conversation_1")
			}
			ack, err = c.EmitAck(ctx, "join", "secret_room")
			if err != nil || ackError(ack) != "forbidden" {
				t.Fatalf("join secret_room: %v %v", ack, err)
			}
			if testkit.RoomSize(t, srv, "secret_room") != 0 {
				t.Fatal("joined a forbidden room")
			}
			ack, err = c.EmitAck(ctx, "leave", "conversation_1")
			if err != nil || !testkit.AckSuccess(ack) {
				t.Fatalf("leave: %v %v", ack, err)
			}
			if testkit.RoomSize(t, srv, "conversation_1") != 0 {
				t.Fatal("still in conversation_1")
			}

			// deauth
			if _, err := c.EmitAck(ctx, "join", "conversation_2"); err != nil {
				t.Fatal(err)
			}
			ack, err = c.EmitAck(ctx, "deauth")
			if err != nil || !testkit.AckSuccess(ack) {
				t.Fatalf("deauth: %v %v", ack, err)
			}
			if _, err := c.Next(ctx, "deauthenticated"); err != nil {
				t.Fatal(err)
			}
			rooms := srv.Stats().Rooms
			want2 := map[string]int{"all": 1, "guests": 1, "device_phone-1": 1}
			if len(rooms) != len(want2) {
				t.Fatalf("rooms after deauth = %v, want %v", rooms, want2)
			}
			for r, n := range want2 {
				if rooms[r] != n {
					t.Fatalf("rooms after deauth = %v, want %v", rooms, want2)
				}
			}
			if testkit.Online(t, srv, 7) || testkit.Users(t, srv) != 0 {
				t.Fatal("user 7 still online after deauth")
			}

			if got := c.Transport(); got != "websocket" {
				t.Fatalf("transport %q", got)
			}
			c.Close()
			testkit.Eventually(t, "no connections", func() bool { return testkit.Connections(t, srv) == 0 })
			if rooms := srv.Stats().Rooms; len(rooms) != 0 {
				t.Fatalf("rooms after disconnect: %v", rooms)
			}
		})
	}
}

func TestHandshakeToken(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{Auth: map[string]any{"token": testkit.Token(t, "alice"), "device_id": 42}})
	ctx := testkit.Context(t)
	args, err := c.Next(ctx, "authenticated")
	if err != nil {
		t.Fatal(err)
	}
	got := args[0].(map[string]any)
	if got["userId"] != "alice" || got["deviceId"] != "42" {
		t.Fatalf("authenticated = %v", got)
	}
	if testkit.RoomSize(t, srv, "user_alice_device_42") != 1 || testkit.RoomSize(t, srv, "guests") != 0 {
		t.Fatalf("rooms: %v", srv.Stats().Rooms)
	}

	_, err = sioclient.Dial(ctx, url, sioclient.Options{Auth: map[string]any{"token": "garbage"}})
	if err == nil || !strings.Contains(err.Error(), "Invalid token") {
		t.Fatalf("dial with bad token: %v", err)
	}
	testkit.Eventually(t, "one connection", func() bool { return testkit.Connections(t, srv) == 1 })
}

func TestReauthAsAnotherUserLeavesOldRooms(t *testing.T) {
	srv, url := startServer(t, server.Config{Authorize: allowConversations})
	c := testkit.Dial(t, url, sioclient.Options{})
	ctx := testkit.Context(t)
	authAs(t, c, 1)
	if ack, _ := c.EmitAck(ctx, "join", "conversation_1"); !testkit.AckSuccess(ack) {
		t.Fatal("join refused")
	}
	authAs(t, c, 2)
	rooms := srv.Stats().Rooms
	if rooms["user_1"] != 0 || rooms["conversation_1"] != 0 || rooms["user_2"] != 1 || rooms["users"] != 1 || rooms["guests"] != 0 {
		t.Fatalf("rooms after re-auth: %v", rooms)
	}
	// Same user again keeps the joined rooms.
	if ack, _ := c.EmitAck(ctx, "join", "conversation_2"); !testkit.AckSuccess(ack) {
		t.Fatal("join refused")
	}
	authAs(t, c, 2)
	if testkit.RoomSize(t, srv, "conversation_2") != 1 {
		t.Fatalf("token refresh lost rooms: %v", srv.Stats().Rooms)
	}
}

func TestTokenExpiryDeauthenticates(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{})
	ctx := testkit.Context(t)
	tok := token(t, jwt.MapClaims{"id": 5, "exp": time.Now().Add(1500*time.Millisecond).Unix() + 1})
	ack, err := c.EmitAck(ctx, "auth", tok)
	if err != nil || !testkit.AckSuccess(ack) {
		t.Fatalf("auth: %v %v", ack, err)
	}
	if !testkit.Online(t, srv, 5) {
		t.Fatal("not online")
	}
	args, err := c.Next(ctx, "deauthenticated")
	if err != nil {
		t.Fatal(err)
	}
	if m := args[0].(map[string]any); m["reason"] != "expired" {
		t.Fatalf("deauthenticated = %v", m)
	}
	if testkit.Online(t, srv, 5) || testkit.RoomSize(t, srv, "guests") != 1 || testkit.RoomSize(t, srv, "users") != 0 {
		t.Fatalf("after expiry: %v", srv.Stats().Rooms)
	}
}

func TestBigNumericUserIDPrintsInDecimal(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{})
	// 2^53+1 cannot be a float64: it must go through as a JSON number.
	tok := token(t, jwt.MapClaims{"id": json.Number("9007199254740993")})
	ack, err := c.EmitAck(testkit.Context(t), "auth", tok)
	if err != nil || !testkit.AckSuccess(ack) {
		t.Fatalf("auth: %v %v", ack, err)
	}
	if testkit.RoomSize(t, srv, "user_9007199254740993") != 1 {
		t.Fatalf("rooms: %v", srv.Stats().Rooms)
	}
	if !testkit.Online(t, srv, int64(9007199254740993)) || !testkit.Online(t, srv, uint64(9007199254740993)) {
		t.Fatal("IsUserOnline with integer ids")
	}
	// 1e15 as a float must print without exponent.
	c2 := testkit.Dial(t, url, sioclient.Options{})
	authAs(t, c2, 1e15)
	if testkit.RoomSize(t, srv, "user_1000000000000000") != 1 {
		t.Fatalf("rooms: %v", srv.Stats().Rooms)
	}
}
