package app

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/user"
)

// loginRequest is the body of POST /api/login.
type loginRequest struct {
	UserID *int64 `json:"user_id"`
}

// login answers POST /api/login {"user_id":N} with {"token":JWT}, creating
// the user if missing. Demo only: there is no password.
func (a *App) login(w http.ResponseWriter, r *http.Request) error {
	var req loginRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.UserID == nil {
		return errorf(http.StatusBadRequest, `"user_id" is required`)
	}
	if err := checkID("user_id", *req.UserID); err != nil {
		return err
	}
	if err := a.ensureUser(r.Context(), int(*req.UserID)); err != nil {
		return err
	}
	token, err := a.signToken(*req.UserID, time.Now())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": token})
	return nil
}

// ensureUser creates user id unless it exists.
func (a *App) ensureUser(ctx context.Context, id int) error {
	exists, err := a.client.User.Query().Where(user.ID(id)).Exist(ctx)
	if err != nil {
		return fmt.Errorf("look up user %d: %w", id, err)
	}
	if exists {
		return nil
	}
	err = a.client.User.Create().SetID(id).Exec(ctx)
	if err != nil && !ent.IsConstraintError(err) { // a concurrent login created it
		return fmt.Errorf("create user %d: %w", id, err)
	}
	return nil
}
