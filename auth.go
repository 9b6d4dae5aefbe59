package herald

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/herald-push/herald/pusher"
)

// An Authorizer decides, in the embedding program, who may subscribe to a
// private or presence channel and whom a connection signs in as; Herald
// signs the answer with the app's secret, so the program needs no signing
// code. It is Options.Authorizer, served at POST /auth/{app key} on the
// API listener and by AuthHandler, the endpoint pusher-js
// (channelAuthorization.endpoint, userAuthentication.endpoint) and
// Herald's client (auth) call.
//
// It returns the Grant, or an error to refuse: the auth call is answered
// 403 with the error's text, which the client shows (pusher-js emits
// pusher:subscription_error with status 403), so the text must hold
// nothing secret. It is called concurrently, on the HTTP request's
// goroutine, and may block as long as the request may take.
type Authorizer func(r *AuthRequest) (Grant, error)

// AuthRequest is what the client asks the auth endpoint.
type AuthRequest struct {
	// App is the app's key.
	App string
	// SocketID is the connection asking.
	SocketID string
	// Channel is the private- or presence- channel to subscribe to; ""
	// for a user sign-in (pusher-js's signin).
	Channel string
	// HTTP is the auth call: its cookies and headers say who asks. Its
	// body has been read.
	HTTP *http.Request
}

// Grant is a yes. On a private channel it needs nothing.
type Grant struct {
	// UserID is, on a presence channel, the member's id, and on a
	// sign-in, the user's id: required for both.
	UserID string
	// UserInfo is the member's or the user's user_info, encoded as JSON;
	// nil: none.
	UserInfo any
	// Watchlist is, on a sign-in, the user ids whose online status the
	// user is told of (apps[].watchlist); at most 100.
	Watchlist []string
}

// maxAuthBody bounds an auth call's body (a socket id, a channel name and
// what a client adds).
const maxAuthBody = 16 << 10

// AuthHandler is the auth endpoint of app (its key), for a program that
// serves it on its own mux, usually on the origin of its pages so that
// the auth call carries their cookies: mount it at the path the clients
// are given as their auth endpoint. It calls Options.Authorizer (without
// one it answers 404) and answers {"auth", "channel_data"} for a channel
// or {"auth", "user_data"} for a sign-in.
func (h *Herald) AuthHandler(app string) http.Handler { return authHandler{h: h, app: app} }

// authHandler serves the auth endpoint of app, or of the app named by the
// path's last segment (/auth/{key}) when app is "".
type authHandler struct {
	h   *Herald
	app string
}

func (a authHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	res, status, err := a.serve(w, r)
	if err != nil {
		pusher.WriteError(w, status, err.Error())
		return
	}
	pusher.WriteJSON(w, http.StatusOK, res)
}

// serve answers an auth call: the signed grant, or an error and its status.
func (a authHandler) serve(w http.ResponseWriter, r *http.Request) (any, int, error) {
	authorize := a.h.authorizer
	key := a.app
	if key == "" {
		key = r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	}
	switch {
	case authorize == nil:
		return nil, http.StatusNotFound, errors.New("no authorizer: see herald.Options.Authorizer")
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		return nil, http.StatusMethodNotAllowed, errors.New("use POST")
	}
	_, app, err := a.h.app(key)
	switch {
	case errors.Is(err, ErrNotRunning):
		return nil, http.StatusServiceUnavailable, err
	case err != nil:
		return nil, http.StatusNotFound, errors.New("unknown app")
	}
	req, err := readAuth(w, r)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	req.App, req.HTTP = key, r
	grant, err := authorize(&req)
	if err != nil {
		return nil, http.StatusForbidden, err
	}
	cfg := app.Config()
	if req.Channel == "" {
		var info json.RawMessage
		if grant.UserInfo != nil {
			if info, err = json.Marshal(grant.UserInfo); err != nil {
				return nil, http.StatusInternalServerError, errors.New("the authorizer's UserInfo does not encode as JSON")
			}
		}
		res, err := pusher.AuthenticateUser(key, cfg.Secret, req.SocketID,
			pusher.UserData{ID: grant.UserID, UserInfo: info, Watchlist: grant.Watchlist})
		if err != nil {
			return nil, http.StatusInternalServerError, errors.New("the authorizer granted a sign-in without a UserID")
		}
		return res, 0, nil
	}
	var member *pusher.PresenceMember
	if pusher.Kind(req.Channel) == pusher.Presence {
		member = &pusher.PresenceMember{UserID: grant.UserID, UserInfo: grant.UserInfo}
	}
	res, err := pusher.AuthorizeChannel(key, cfg.Secret, req.SocketID, req.Channel, member)
	if err != nil {
		return nil, http.StatusInternalServerError, errors.New("the authorizer granted a presence channel without a UserID")
	}
	return res, 0, nil
}

// readAuth reads the auth call's socket_id and channel_name, form-encoded
// (pusher-js, Herald's client) or JSON, and checks them.
func readAuth(w http.ResponseWriter, r *http.Request) (AuthRequest, error) {
	var req AuthRequest
	r.Body = http.MaxBytesReader(w, r.Body, maxAuthBody)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var body struct {
			SocketID string `json:"socket_id"`
			Channel  string `json:"channel_name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			return req, errors.New("the body is not a JSON object with socket_id")
		}
		req.SocketID, req.Channel = body.SocketID, body.Channel
	} else {
		if err := r.ParseForm(); err != nil {
			return req, errors.New("the body is not a form with socket_id")
		}
		req.SocketID, req.Channel = r.PostForm.Get("socket_id"), r.PostForm.Get("channel_name")
	}
	switch kind := pusher.Kind(req.Channel); {
	case !pusher.ValidSocketID(req.SocketID):
		return req, errors.New("socket_id must look like 123.456")
	case req.Channel == "":
	case !pusher.ValidChannelName(req.Channel):
		return req, errors.New("invalid channel_name")
	case kind == pusher.Encrypted:
		return req, errors.New("private-encrypted channels need an encryption key, which this endpoint does not hold")
	case !kind.NeedsAuth():
		return req, errors.New("only private- and presence- channels are authorized")
	}
	return req, nil
}
