package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/conversation"
	"github.com/entreactive/reactive/ent/message"
	"github.com/entreactive/reactive/ent/user"
)

// Limits of messages.
const (
	messagesListed = 200
	maxBatch       = 100
)

// messageRequest is the body of POST /api/messages and an item of
// POST /api/messages/batch.
type messageRequest struct {
	ConversationID *int64  `json:"conversation_id"`
	RecipientID    *int64  `json:"recipient_id"`
	Text           *string `json:"text"`
}

// check validates the request on its own: 400 for a missing field or an
// id out of range, 422 for an empty text.
func (m *messageRequest) check() error {
	switch {
	case m.ConversationID == nil:
		return errorf(http.StatusBadRequest, `"conversation_id" is required`)
	case m.RecipientID == nil:
		return errorf(http.StatusBadRequest, `"recipient_id" is required`)
	case m.Text == nil:
		return errorf(http.StatusBadRequest, `"text" is required`)
	}
	if err := checkID("conversation_id", *m.ConversationID); err != nil {
		return err
	}
	if err := checkID("recipient_id", *m.RecipientID); err != nil {
		return err
	}
	return checkText(*m.Text)
}

// checkText refuses an empty or blank text with a 422.
func checkText(s string) error {
	if strings.TrimSpace(s) == "" {
		return errorf(http.StatusUnprocessableEntity, `"text" must not be empty`)
	}
	return nil
}

// members returns the member ids of conversation id, or a 404 when it does
// not exist.
func members(ctx context.Context, client *ent.Client, id int) ([]int, error) {
	c, err := client.Conversation.Query().
		Where(conversation.ID(id)).
		WithMembers(func(q *ent.UserQuery) { q.Select(user.FieldID) }).
		Only(ctx)
	if ent.IsNotFound(err) {
		return nil, errorf(http.StatusNotFound, "conversation %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load conversation %d: %w", id, err)
	}
	ids := make([]int, len(c.Edges.Members))
	for i, m := range c.Edges.Members {
		ids[i] = m.ID
	}
	return ids, nil
}

// memberCache loads each conversation's members once per request.
type memberCache map[int][]int

// checkSend checks that sender may send req: the conversation exists (404),
// the sender is a member (403) and so is the recipient (422).
func (mc memberCache) checkSend(ctx context.Context, client *ent.Client, sender int, req *messageRequest) error {
	conv, recipient := int(*req.ConversationID), int(*req.RecipientID)
	ids, ok := mc[conv]
	if !ok {
		var err error
		if ids, err = members(ctx, client, conv); err != nil {
			return err
		}
		mc[conv] = ids
	}
	if !slices.Contains(ids, sender) {
		return errorf(http.StatusForbidden, "you are not a member of conversation %d", conv)
	}
	if !slices.Contains(ids, recipient) {
		return errorf(http.StatusUnprocessableEntity, "recipient %d is not a member of conversation %d", recipient, conv)
	}
	return nil
}

// createMessage answers POST /api/messages with 201 and the row. The sender
// is the caller. The schema sends the new message to the recipient.
func (a *App) createMessage(w http.ResponseWriter, r *http.Request, uid int64) error {
	var req messageRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	ctx := r.Context()
	if err := (memberCache{}).checkSend(ctx, a.client, int(uid), &req); err != nil {
		return err
	}
	m, err := newMessage(a.client, int(uid), &req).Save(ctx)
	if err != nil {
		return saveError(err)
	}
	return writeRow(w, http.StatusCreated, m)
}

// newMessage returns the builder of req's message from sender.
func newMessage(client *ent.Client, sender int, req *messageRequest) *ent.MessageCreate {
	return client.Message.Create().
		SetConversationID(int(*req.ConversationID)).
		SetSenderID(sender).
		SetRecipientID(int(*req.RecipientID)).
		SetText(*req.Text)
}

// saveError maps an ent validation error to a 422.
func saveError(err error) error {
	if ent.IsValidationError(err) {
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	return fmt.Errorf("save message: %w", err)
}

// createMessages answers POST /api/messages/batch [{...}, ...] with 201 and
// the rows, all stored in one transaction. If any item is invalid, nothing
// is stored, nothing is emitted, and the answer is 422 naming the item.
func (a *App) createMessages(w http.ResponseWriter, r *http.Request, uid int64) error {
	var items []*messageRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &items); err != nil {
		return err
	}
	if items == nil {
		return errorf(http.StatusBadRequest, "the request body must be a JSON array of messages")
	}
	if len(items) == 0 || len(items) > maxBatch {
		return errorf(http.StatusBadRequest, "a batch has 1 to %d messages, not %d", maxBatch, len(items))
	}
	for i, item := range items {
		if item == nil {
			return itemError(i, errorf(http.StatusBadRequest, "the item is null"))
		}
		if err := item.check(); err != nil {
			return itemError(i, err)
		}
	}
	ctx := r.Context()
	tx, err := a.client.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	client := tx.Client()
	cache := memberCache{}
	builders := make([]*ent.MessageCreate, len(items))
	for i, item := range items {
		if err := cache.checkSend(ctx, client, int(uid), item); err != nil {
			return itemError(i, err)
		}
		builders[i] = newMessage(client, int(uid), item)
	}
	rows, err := client.Message.CreateBulk(builders...).Save(ctx)
	if err != nil {
		return saveError(err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return writeRows(w, http.StatusCreated, rows)
}

// itemError turns a client error about batch item i (from 0) into a 422
// that names the item; other errors pass unchanged.
func itemError(i int, err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return errorf(http.StatusUnprocessableEntity, "items[%d]: %s", i, ae.msg)
	}
	return err
}

// listMessages answers GET /api/messages?conversation_id=C with the
// conversation's latest messages, oldest first. Members only.
func (a *App) listMessages(w http.ResponseWriter, r *http.Request, uid int64) error {
	conv, err := queryID(r, "conversation_id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	ids, err := members(ctx, a.client, conv)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, int(uid)) {
		return errorf(http.StatusForbidden, "you are not a member of conversation %d", conv)
	}
	rows, err := a.client.Message.Query().
		Where(message.ConversationID(conv)).
		Order(ent.Desc(message.FieldID)).
		Limit(messagesListed).
		All(ctx)
	if err != nil {
		return fmt.Errorf("list messages of conversation %d: %w", conv, err)
	}
	slices.Reverse(rows)
	return writeRows(w, http.StatusOK, rows)
}

// textRequest is the body of PATCH /api/messages/{id}.
type textRequest struct {
	Text *string `json:"text"`
}

// ownMessage loads message id for a change by uid: 404 when it does not
// exist, 403 when uid did not send it.
func (a *App) ownMessage(ctx context.Context, id int, uid int64) (*ent.Message, error) {
	m, err := a.client.Message.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, errorf(http.StatusNotFound, "message %d does not exist", id)
	}
	if err != nil {
		return nil, fmt.Errorf("load message %d: %w", id, err)
	}
	if m.SenderID != int(uid) {
		return nil, errorf(http.StatusForbidden, "only the sender may change message %d", id)
	}
	return m, nil
}

// updateMessage answers PATCH /api/messages/{id} {"text":"..."} with 200
// and the row. Only the sender may edit; the schema sends the change to the
// conversation's room.
func (a *App) updateMessage(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req textRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Text == nil {
		return errorf(http.StatusBadRequest, `"text" is required`)
	}
	ctx := r.Context()
	if _, err := a.ownMessage(ctx, id, uid); err != nil {
		return err
	}
	if err := checkText(*req.Text); err != nil {
		return err
	}
	m, err := a.client.Message.UpdateOneID(id).SetText(*req.Text).Save(ctx)
	if ent.IsNotFound(err) { // deleted meanwhile
		return errorf(http.StatusNotFound, "message %d does not exist", id)
	}
	if err != nil {
		return saveError(err)
	}
	return writeRow(w, http.StatusOK, m)
}

// deleteMessage answers DELETE /api/messages/{id} with 204. Only the sender
// may delete; the schema sends the deletion to the conversation's room.
func (a *App) deleteMessage(w http.ResponseWriter, r *http.Request, uid int64) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	if _, err := a.ownMessage(ctx, id, uid); err != nil {
		return err
	}
	err = a.client.Message.DeleteOneID(id).Exec(ctx)
	if ent.IsNotFound(err) { // deleted meanwhile
		return errorf(http.StatusNotFound, "message %d does not exist", id)
	}
	if err != nil {
		return fmt.Errorf("delete message %d: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
