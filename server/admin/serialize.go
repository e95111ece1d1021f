package admin

import (
	"slices"
	"strings"

	"github.com/entreactive/reactive/server"
)

// serializedSocket is a socket as the Admin UI reads it (instrument()'s
// SerializedSocket).
type serializedSocket struct {
	ID        string         `json:"id"`
	ClientID  string         `json:"clientId"`
	Transport string         `json:"transport"`
	Nsp       string         `json:"nsp"`
	Data      map[string]any `json:"data"`
	Handshake handshake      `json:"handshake"`
	Rooms     []string       `json:"rooms"`
}

// handshake is a socket's handshake as the Admin UI reads it; the auth
// payload is left out, as instrument() does.
type handshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// hiddenHeader reports whether the (lower-case) header k carries
// credentials: a Node server would show them to the UI too; they are left
// out here.
func hiddenHeader(k string) bool {
	switch k {
	case "authorization", "cookie", "proxy-authorization":
		return true
	}
	return false
}

// jsDate is the layout of JavaScript's Date.prototype.toString, which
// the UI shows as the handshake time.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"

// serialize describes a socket for the UI. Its rooms start with its own
// id, as a Node socket's do (the UI shows that room as private). A socket
// of "/" shows its user and device in data.
func serialize(si *server.SocketInfo) serializedSocket {
	h := si.Handshake
	headers := make(map[string]string, len(h.Headers))
	for k, v := range h.Headers {
		k = strings.ToLower(k)
		if !hiddenHeader(k) {
			headers[k] = strings.Join(v, ", ")
		}
	}
	query := make(map[string]string, len(h.Query))
	for k, v := range h.Query {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	rooms := slices.Sorted(slices.Values(si.Rooms))
	data := map[string]any{}
	if si.User != nil {
		data["userId"] = si.User.ID
	}
	if si.DeviceID != "" {
		data["deviceId"] = si.DeviceID
	}
	clientID := si.ClientID
	if len(clientID) > 12 {
		clientID = clientID[:12] // as instrument(): the full id is sensitive
	}
	return serializedSocket{
		ID:        si.ID,
		ClientID:  clientID,
		Transport: si.Transport,
		Nsp:       si.Namespace,
		Data:      data,
		Handshake: handshake{
			Address: clientAddress(h),
			Headers: headers,
			Query:   query,
			Issued:  h.Time.UnixMilli(),
			Secure:  h.Secure,
			Time:    h.Time.Format(jsDate),
			URL:     h.URL,
			XDomain: h.CrossDomain,
		},
		Rooms: append([]string{si.ID}, rooms...),
	}
}

// clientAddress is the client's address as instrument() finds it: a
// proxy's header first.
func clientAddress(h server.Handshake) string {
	for _, k := range []string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := h.Headers.Get(k); v != "" {
			return v
		}
	}
	return h.Address
}
