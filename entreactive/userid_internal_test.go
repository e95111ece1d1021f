package entreactive

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// role is a named integer type, as ent's GoType ids may be.
type role int

// namedStringer is a fmt.Stringer whose form is no id.
type namedStringer struct{}

func (namedStringer) String() string { return "not an id" }

func TestUserIDsAreResolvedOrReported(t *testing.T) {
	seven, name, u := 7, "alice", uuid.MustParse("0b8f1a8e-55a4-4a0c-9b0b-2f8c0f1e7d11")
	var nilInt *int
	var nilUUID *uuid.UUID
	sevenPtr := &seven
	for _, tt := range []struct {
		name string
		id   any
		want any    // the resolved id; nil for nobody
		err  string // a part of the error; "" for none
	}{
		{"int", 7, 7, ""},
		{"int64", int64(1 << 53), int64(1 << 53), ""},
		{"uint8", uint8(3), uint64(3), ""},
		{"named integer", role(4), int64(4), ""},
		{"string", "alice", "alice", ""},
		{"json.Number", json.Number("12"), "12", ""},
		{"uuid", u, u.String(), ""},
		{"pointer to int", &seven, int64(7), ""},
		{"pointer to pointer to int", &sevenPtr, int64(7), ""},
		{"pointer to string", &name, "alice", ""},
		{"pointer to uuid", &u, u.String(), ""},
		{"nil", nil, nil, ""},
		{"nil *int", nilInt, nil, ""},
		{"nil *uuid.UUID", nilUUID, nil, ""},
		{"empty string", "", nil, "empty string"},
		{"float", 1.5, nil, "float64"},
		{"bool", true, nil, "bool"},
		{"struct", struct{ ID int }{1}, nil, "struct"},
		{"slice", []int{1}, nil, "[]int"},
		{"stringer with spaces", time.Unix(0, 0).UTC(), nil, "time.Time"},
		{"stringer that is no id", namedStringer{}, nil, "not an id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			to, err := Target{Rooms: []string{"r"}, Users: []any{tt.id}}.withUserIDs()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "entreactive: ") {
					t.Errorf("err = %v, want one mentioning %q", err, tt.err)
				}
			} else if err != nil {
				t.Errorf("err = %v", err)
			}
			want := []any{}
			if tt.want != nil {
				want = []any{tt.want}
			}
			if fmt.Sprintf("%#v", append([]any{}, to.Users...)) != fmt.Sprintf("%#v", want) {
				t.Errorf("users = %#v, want %#v", to.Users, want)
			}
			if len(to.Rooms) != 1 {
				t.Errorf("rooms = %v: resolving user ids changed them", to.Rooms)
			}
		})
	}
}

func TestBadUserIDsLeaveTheOthers(t *testing.T) {
	seven := 7
	users := []any{1, &seven, 2.5, nil, "bob", struct{}{}}
	to, err := Target{Users: users}.withUserIDs()
	if err == nil || !strings.Contains(err.Error(), "float64") || !strings.Contains(err.Error(), "struct {}") {
		t.Errorf("err = %v, want both bad ids reported", err)
	}
	if got, want := fmt.Sprint(to.Users), "[1 7 bob]"; got != want {
		t.Errorf("users = %s, want %s", got, want)
	}
	if fmt.Sprint(users[1]) == "7" {
		t.Error("the target function's slice was changed")
	}
}

func TestPlainUserIDsCostNothing(t *testing.T) {
	to := Target{Users: []any{1, int64(2), "carol"}}
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := to.withUserIDs(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("resolving plain ids allocates %v times", allocs)
	}
}
