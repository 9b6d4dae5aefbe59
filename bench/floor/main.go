// Command floor measures what a connection costs before any WebSocket or
// Pusher code runs: the memory floor of a goroutine-per-connection
// server, against which herald-bench's idle figures are read
// (herald-bench floor). It accepts plain TCP connections where Herald's
// WebSocket listener would (HERALD_WEBSOCKET_LISTEN), answers
// GET /healthz on HERALD_API_LISTEN, serves bench/benchdebug on
// BENCH_DEBUG_LISTEN, and holds every connection it accepts in one of
// three ways (BENCH_FLOOR_MODE or --mode):
//
//   - read: a goroutine per connection, blocked in net.Conn.Read with a
//     buffer of its own of Herald's websocket.read_buffer_size, 256 bytes
//     (what gws's read loop is, without gws);
//   - grown: the same, after the goroutine once needed 2 KiB of stack, so
//     that it holds a 4 KiB stack as gws's read loop does once it has
//     handled a frame (a GC halves a stack only when less than a quarter
//     of it is in use);
//   - epoll: no goroutine and no buffer per connection: one goroutine
//     waits in epoll_wait for every socket and reads into one shared
//     1 KiB buffer (the shape of an event-loop transport such as nbio).
//
// Bytes a client sends are read and dropped; a connection is closed when
// its client closes it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/herald-push/herald/bench/benchdebug"
	"golang.org/x/sys/unix"
)

// readBuffer is each read loop's buffer: Herald's default read buffer.
const readBuffer = 256

func main() {
	addr := flag.String("ws", envOr("HERALD_WEBSOCKET_LISTEN", "127.0.0.1:3131"), "TCP `host:port` to accept connections on")
	api := flag.String("api", envOr("HERALD_API_LISTEN", "127.0.0.1:3232"), "`host:port` of GET /healthz")
	mode := flag.String("mode", envOr("BENCH_FLOOR_MODE", "read"), "read, grown or epoll")
	flag.Parse()
	if err := benchdebug.Start(os.Getenv(benchdebug.EnvListen)); err != nil {
		log.Fatal(err)
	}
	apiLn, err := net.Listen("tcp", *api)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, `{"ok":true}`) })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	go func() { log.Fatal(srv.Serve(apiLn)) }()
	switch *mode {
	case "read", "grown":
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			log.Fatal(err)
		}
		go acceptLoop(ln, *mode == "grown")
	case "epoll":
		go func() { log.Fatal(epollServe(*addr)) }()
	default:
		log.Fatalf("unknown mode %q (read, grown or epoll)", *mode)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// acceptLoop starts a read goroutine per connection; the process's end
// ends them.
func acceptLoop(ln net.Listener, grown bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go readLoop(c, grown)
	}
}

func readLoop(c net.Conn, grown bool) {
	defer func() { _ = c.Close() }() // the client is gone: nothing to report
	if grown && grow(1) < 0 {
		return
	}
	buf := make([]byte, readBuffer)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// grow needs a little over 2 KiB of stack once: the goroutine's 2 KiB
// stack is copied to a 4 KiB one.
//
//go:noinline
func grow(n int) int {
	var pad [2 << 10]byte
	pad[n%len(pad)] = 1
	return int(pad[(n*7)%len(pad)])
}

// epollServe accepts on addr with raw sockets and reads every connection
// from one epoll loop, holding a map entry per connection.
func epollServe(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return fmt.Errorf("epoll mode needs an IPv4 host:port, got %q", addr)
	}
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return err
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return err
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	open := map[int32]struct{}{} // the descriptors held
	go func() {                  // blocking accepts on their own thread
		for {
			fd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
			if err != nil {
				if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ECONNABORTED) {
					continue
				}
				log.Fatal(err)
			}
			ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)} //nolint:gosec // G115: descriptors are below the fd limit
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				_ = unix.Close(fd)
				continue
			}
			mu.Lock()
			open[int32(fd)] = struct{}{} //nolint:gosec // G115: as above
			mu.Unlock()
		}
	}()
	buf := make([]byte, 1024)
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(ep, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			for {
				k, err := unix.Read(fd, buf)
				if k > 0 {
					continue
				}
				if errors.Is(err, unix.EAGAIN) {
					break
				}
				_ = unix.Close(fd) // EOF or an error: the client is gone
				mu.Lock()
				delete(open, ev.Fd)
				mu.Unlock()
				break
			}
		}
	}
}
