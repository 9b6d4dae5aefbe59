// Package pusher is the vocabulary of the Pusher Channels protocol (version 7)
// as Herald speaks it: event names, frame encoding and decoding, channel kinds
// and name rules, close and error codes, and the HMAC signatures used for
// channel authorisation, REST requests and webhooks.
//
// It depends on the standard library only and holds no state, so every other
// package (actors, transport, webhooks, the load tool) may import it, and it
// imports none of them.
//
// Frames sent to clients follow the rules that real clients depend on: the
// "data" of every server event is a JSON string (pusher-js and webman's
// push.js both parse it a second time), except pusher:error, whose data is an
// object {"code", "message"}. Encoders append to a caller's buffer so the hot
// path (one encode per publish, whatever the number of subscribers) does not
// allocate more than it must.
package pusher
