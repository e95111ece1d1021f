package server_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/entreactive/reactive/server"
)

// A user id given to the utility API as a pointer, a UUID or a named type
// names the user's room, as it does in a Target; anything else names none
// (never a room after a pointer's address, never a panic).
func TestUserRoomResolvesIDsAsTargetsDo(t *testing.T) {
	type userID int64
	seven := 7
	name := "ana"
	u := uuid.MustParse("6f1c2e1a-6a55-4f59-9d0c-4a4b1a9e2b10")
	var nilInt *int
	var nilUUID *uuid.UUID
	for _, tt := range []struct {
		name string
		id   any
		want string
	}{
		{"int", 7, "user_7"},
		{"pointer to int", &seven, "user_7"},
		{"pointer to string", &name, "user_ana"},
		{"named integer", userID(9), "user_9"},
		{"uuid", u, "user_" + u.String()},
		{"pointer to uuid", &u, "user_" + u.String()},
		{"nil pointer", nilInt, ""},
		{"nil pointer to a Stringer", nilUUID, ""},
		{"struct", struct{ ID int }{7}, ""},
		{"bool", true, ""},
		{"nil", nil, ""},
	} {
		if got := server.UserRoom(tt.id); got != tt.want {
			t.Errorf("%s: UserRoom(%#v) = %q, want %q", tt.name, tt.id, got, tt.want)
		}
	}
}
