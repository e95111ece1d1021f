package app

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/notification"
)

// notificationsListed is how many notifications GET /api/notifications
// returns.
const notificationsListed = 50

// notificationRequest is the body of POST /api/notifications.
type notificationRequest struct {
	Message *string `json:"message"`
}

// createNotification answers POST /api/notifications {"message":"..."} with
// 201 and the row. The schema sends it to the room "users".
func (a *App) createNotification(w http.ResponseWriter, r *http.Request) error {
	var req notificationRequest
	if err := decodeJSON(w, r, a.cfg.MaxBodyBytes, &req); err != nil {
		return err
	}
	if req.Message == nil {
		return errorf(http.StatusBadRequest, `"message" is required`)
	}
	if strings.TrimSpace(*req.Message) == "" {
		return errorf(http.StatusUnprocessableEntity, `"message" must not be empty`)
	}
	n, err := a.client.Notification.Create().SetMessage(*req.Message).Save(r.Context())
	if ent.IsValidationError(err) {
		return errorf(http.StatusUnprocessableEntity, "%v", err)
	}
	if err != nil {
		return fmt.Errorf("create notification: %w", err)
	}
	return writeRow(w, http.StatusCreated, n)
}

// listNotifications answers GET /api/notifications with the latest rows,
// newest first.
func (a *App) listNotifications(w http.ResponseWriter, r *http.Request) error {
	rows, err := a.client.Notification.Query().
		Order(ent.Desc(notification.FieldID)).
		Limit(notificationsListed).
		All(r.Context())
	if err != nil {
		return fmt.Errorf("list notifications: %w", err)
	}
	return writeRows(w, http.StatusOK, rows)
}
