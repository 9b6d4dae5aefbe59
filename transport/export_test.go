package transport

// SetCallbackHook makes every gws callback of s call hook first with the
// callback's name (OnOpen, OnMessage, OnPing, OnPong, OnClose): a test
// makes it panic to show a panic costs one socket.
func SetCallbackHook(s *Server, hook func(callback string)) { s.ws.testHook = hook }
