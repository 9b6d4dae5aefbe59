// Package e2e holds Herald's black-box end-to-end tests. js_test.go starts
// a broker in-process and runs the Node tests in e2e/js, which drive it
// through the real pusher-js client and the official pusher server SDK.
// readme_test.go does the same for the README's snippets as pasted
// (e2e/js/readme): the pusher-js and Node SDK examples against the dev
// defaults, and the nginx server block in Debian's nginx (/usr/sbin/nginx)
// with the TLS client settings beside it. embedded_test.go drives Herald
// embedded in a Go program (e2e/js/embedded): the embedding API in this
// test's ActorSystem, and examples/embedded built and run as a process.
// dashboard_test.go runs e2e/js/dashboard: the dashboard page in Debian's
// headless chromium (/usr/bin/chromium, driven by playwright-core) while
// pusher-js clients and the SDK make the traffic it shows.
//
// Setup, once and after every change to e2e/js/package-lock.json:
//
//	npm ci --prefix e2e/js
//
// then `go test ./e2e/`. The test fails (never skips) when node or the
// npm packages are missing.
package e2e
