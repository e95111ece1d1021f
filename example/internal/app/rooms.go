package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/entreactive/reactive/ent/conversation"
	"github.com/entreactive/reactive/ent/schema"
	"github.com/entreactive/reactive/ent/user"
	"github.com/entreactive/reactive/server"
)

// conversationRoomPrefix starts the name of a conversation's room.
const conversationRoomPrefix = "conversation_"

// authorizeJoin is the Socket.IO join authorizer: conversation_C is
// joinable by the members of conversation C, and no other room by anyone.
func (a *App) authorizeJoin(ctx context.Context, req server.JoinRequest) (bool, error) {
	if req.User == nil {
		return false, nil
	}
	convID, ok := parseRoomID(req.Room)
	if !ok {
		return false, nil
	}
	uid, err := strconv.ParseInt(req.User.ID, 10, 64)
	if err != nil || uid < 1 || uid > MaxID {
		return false, nil
	}
	ok, err = a.client.Conversation.Query().
		Where(conversation.ID(convID), conversation.HasMembersWith(user.ID(int(uid)))).
		Exist(ctx)
	if err != nil {
		return false, fmt.Errorf("membership of user %d in conversation %d: %w", uid, convID, err)
	}
	return ok, nil
}

// parseRoomID returns C for a room named exactly schema.ConversationRoom(C):
// "conversation_7" but not "conversation_07" or "conversation_+7".
func parseRoomID(room string) (int, bool) {
	s, ok := strings.CutPrefix(room, conversationRoomPrefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.Atoi(s)
	if err != nil || id < 1 || id > MaxID || schema.ConversationRoom(id) != room {
		return 0, false
	}
	return id, true
}
