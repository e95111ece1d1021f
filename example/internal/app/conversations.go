package app

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/conversation"
	"github.com/entreactive/reactive/ent/user"
)

// Limits of conversations.
const (
	maxMembers          = 100
	conversationsListed = 100
)

// conversationRequest is the body of POST /api/conversations.
type conversationRequest struct {
	MemberIDs *[]int64 `json:"member_ids"`
}

// conversationRow is an entry of GET /api/conversations.
type conversationRow struct {
	ID        int       `json:"id"`
	MemberIDs []int     `json:"member_ids"`
	CreatedAt time.Time `json:"created_at"`
}

// createConversation answers POST /api/conversations {"member_ids":[...]}
// with 201 {"id":C}. The caller is always a member; every other member
// must be a user who has logged in once.
func (a *App) createConversation(w http.ResponseWriter, r *http.Request, uid int64) error {
	var req conversationRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.MemberIDs == nil {
		return errorf(http.StatusBadRequest, `"member_ids" is required (an array of user ids)`)
	}
	ids := []int{int(uid)}
	for _, id := range *req.MemberIDs {
		if err := checkID("member_ids", id); err != nil {
			return err
		}
		if !slices.Contains(ids, int(id)) {
			ids = append(ids, int(id))
		}
		if len(ids) > maxMembers {
			return errorf(http.StatusUnprocessableEntity, "a conversation has at most %d members", maxMembers)
		}
	}
	ctx := r.Context()
	found, err := a.client.User.Query().Where(user.IDIn(ids...)).IDs(ctx)
	if err != nil {
		return fmt.Errorf("look up members: %w", err)
	}
	if !slices.Contains(found, int(uid)) {
		return errorf(http.StatusUnauthorized, "user %d does not exist any more: log in again", uid)
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			return errorf(http.StatusUnprocessableEntity, "user %d does not exist (users are created when they log in)", id)
		}
	}
	c, err := a.client.Conversation.Create().AddMemberIDs(ids...).Save(ctx)
	if err != nil {
		return fmt.Errorf("create conversation: %w", err)
	}
	writeJSON(w, http.StatusCreated, map[string]int{"id": c.ID})
	return nil
}

// listConversations answers GET /api/conversations with the caller's
// conversations, newest first, each with its member ids. (This endpoint is
// the page's, an addition to the stable API.)
func (a *App) listConversations(w http.ResponseWriter, r *http.Request, uid int64) error {
	convs, err := a.client.Conversation.Query().
		Where(conversation.HasMembersWith(user.ID(int(uid)))).
		WithMembers(func(q *ent.UserQuery) { q.Select(user.FieldID) }).
		Order(ent.Desc(conversation.FieldID)).
		Limit(conversationsListed).
		All(r.Context())
	if err != nil {
		return fmt.Errorf("list conversations of user %d: %w", uid, err)
	}
	rows := make([]conversationRow, 0, len(convs))
	for _, c := range convs {
		row := conversationRow{ID: c.ID, CreatedAt: c.CreatedAt, MemberIDs: make([]int, 0, len(c.Edges.Members))}
		for _, m := range c.Edges.Members {
			row.MemberIDs = append(row.MemberIDs, m.ID)
		}
		slices.Sort(row.MemberIDs)
		rows = append(rows, row)
	}
	writeJSON(w, http.StatusOK, rows)
	return nil
}
