package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime/stime in /proc/PID/stat. It is
// 100 on every Linux this runs on (getconf CLK_TCK).
const clockTick = 100

// procSample is one reading of a process from /proc.
type procSample struct {
	At      time.Time
	CPU     time.Duration // user + system
	RSS     int64         // bytes (VmRSS)
	Threads int
	// SyscW is the process's write syscalls so far (syscw of
	// /proc/PID/io: write, writev and their kin; not sendmsg), -1 if
	// unreadable.
	SyscW int64
}

func readProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return s, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return s, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(ut+st) * time.Second / clockTick
	st2, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(st2))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			kb, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			s.RSS = kb * 1024
		case strings.HasPrefix(line, "Threads:"):
			s.Threads, _ = strconv.Atoi(strings.Fields(line)[1])
		}
	}
	s.SyscW = readSyscW(pid)
	return s, nil
}

// readSyscW reads syscw from /proc/PID/io (-1 when it cannot).
func readSyscW(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// selfCPU is this process's CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// debugStats mirrors bench/benchdebug.Stats.
type debugStats struct {
	Goroutines int    `json:"goroutines"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	HeapAlloc  uint64 `json:"heap_alloc"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	NumGC      uint32 `json:"num_gc"`
}

// server is the process under test: one we started, or an external one.
type server struct {
	Kind  string // herald, baseline or external
	PID   int
	WS    string // host:port
	API   string
	Debug string // host:port of bench/benchdebug; "" if none
	// readyPath is the API path that answers 200 once the server is
	// ready: /healthz alone, /readyz in a cluster (membership joined).
	readyPath string
	cmd       *exec.Cmd
	log       *os.File
	done      chan error
}

// serverOpts say which server to run and how.
type serverOpts struct {
	Kind       string // herald | baseline | external
	Bin        string
	WS, API    string // external only
	PID        int    // external only
	Debug      string // external only
	GOMAXPROCS int    // 0: inherit
	Env        []string
	CPUs       string // taskset -c list the server is pinned to; "" for none
}

func startServer(ctx context.Context, o serverOpts) (*server, error) {
	if o.Kind == "external" {
		for _, a := range []string{o.WS, o.API, o.Debug} {
			if a != "" {
				if err := checkLoopback(a); err != nil {
					return nil, err
				}
			}
		}
		if o.WS == "" || o.API == "" || o.PID == 0 {
			return nil, errors.New("--server external needs --ws, --api and --pid")
		}
		return &server{Kind: "external", PID: o.PID, WS: o.WS, API: o.API, Debug: o.Debug}, nil
	}
	bin := o.Bin
	if bin == "" {
		var err error
		if bin, err = buildServer(o.Kind, ""); err != nil {
			return nil, err
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	return launchServer(ctx, bin, o, ports, "/healthz", 15*time.Second)
}

// launchServer starts bin on three free loopback ports (WebSocket, API,
// debug) and waits up to wait for readyPath on its API port to answer 200
// and its WebSocket port to accept.
func launchServer(ctx context.Context, bin string, o serverOpts, ports []string, readyPath string, wait time.Duration) (*server, error) {
	var err error
	s := &server{Kind: o.Kind, WS: ports[0], API: ports[1], Debug: ports[2], readyPath: readyPath, done: make(chan error, 1)}
	env := []string{}
	for _, kv := range os.Environ() {
		// Herald refuses unknown HERALD_ variables, and ours must win.
		if !strings.HasPrefix(kv, "HERALD_") && !strings.HasPrefix(kv, "BENCH_DEBUG_LISTEN=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"HERALD_WEBSOCKET_LISTEN="+s.WS, "HERALD_API_LISTEN="+s.API,
		"HERALD_WEBSOCKET_ACTIVITY_TIMEOUT=120s", "HERALD_LOG_LEVEL=warn",
		"BENCH_DEBUG_LISTEN="+s.Debug)
	if o.GOMAXPROCS > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.GOMAXPROCS))
	}
	env = append(env, o.Env...)
	s.log, err = os.CreateTemp("", "herald-bench-"+o.Kind+"-*.log")
	if err != nil {
		return nil, err
	}
	s.cmd = exec.Command(bin)
	if o.CPUs != "" { // taskset execs bin: the PID is the server's
		s.cmd = exec.Command("taskset", "-c", o.CPUs, bin)
	}
	s.cmd.Env = env
	s.cmd.Stdout = s.log
	s.cmd.Stderr = s.log
	// The server dies with us, so no run outlives its time bound.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	s.PID = s.cmd.Process.Pid
	go func() { s.done <- s.cmd.Wait() }()
	deadline := time.Now().Add(wait)
	for {
		if err := ctx.Err(); err != nil {
			s.Stop()
			return nil, err
		}
		select {
		case err := <-s.done:
			s.done <- err
			if err == nil {
				err = errors.New("exit status 0")
			}
			return nil, fmt.Errorf("%s exited at start: %w; log %s:\n%s", o.Kind, err, s.log.Name(), tail(s.log.Name()))
		default:
		}
		if s.ready() {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("%s did not start within %s; log:\n%s", o.Kind, wait, tail(s.log.Name()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) ready() bool {
	c := http.Client{Timeout: time.Second}
	res, err := c.Get("http://" + s.API + s.readyPath)
	if err != nil {
		return false
	}
	res.Body.Close()
	conn, err := net.DialTimeout("tcp", s.WS, time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close() // only a probe: the dial succeeding is the answer
	return res.StatusCode == 200
}

// Stop ends a server we started: SIGTERM, then SIGKILL after 5s.
func (s *server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	var exit error
	select {
	case exit = <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		exit = <-s.done
	}
	_ = exit // the status our signal caused ("signal: terminated"): nothing to report
	s.cmd = nil
	if s.log != nil {
		// A temporary file, read only when the server fails to start.
		_ = s.log.Close()
		_ = os.Remove(s.log.Name())
	}
}

// Alive reports whether the server process still runs.
func (s *server) Alive() bool {
	if s.done != nil {
		select {
		case err := <-s.done:
			s.done <- err
			return false
		default:
		}
	}
	return syscall.Kill(s.PID, 0) == nil
}

func (s *server) Sample() procSample {
	p, _ := readProc(s.PID)
	return p
}

// Stats reads the debug endpoint; ok is false when there is none.
func (s *server) Stats(gc bool) (debugStats, bool) {
	return s.stats(map[bool]string{true: "?gc=1"}[gc])
}

// FreeOSMemory runs a GC in the server and returns its free pages to the
// OS (debug.FreeOSMemory), then reads its numbers.
func (s *server) FreeOSMemory() (debugStats, bool) { return s.stats("?free=1") }

func (s *server) stats(q string) (debugStats, bool) {
	var st debugStats
	if s.Debug == "" {
		return st, false
	}
	c := http.Client{Timeout: 10 * time.Second}
	res, err := c.Get("http://" + s.Debug + "/debug/bench" + q)
	if err != nil {
		return st, false
	}
	defer res.Body.Close()
	return st, json.NewDecoder(res.Body).Decode(&st) == nil
}

// Profile fetches a pprof profile (path like "profile?seconds=10" or
// "heap") into file.
func (s *server) Profile(path, file string, timeout time.Duration) error {
	if s.Debug == "" {
		return errors.New("the server has no debug listener")
	}
	c := http.Client{Timeout: timeout}
	res, err := c.Get("http://" + s.Debug + "/debug/pprof/" + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("pprof %s: %s", path, res.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, res.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func tail(file string) string {
	b, _ := os.ReadFile(file)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePorts(n int) ([]string, error) {
	var lns []net.Listener
	var out []string
	defer func() {
		for _, l := range lns {
			_ = l.Close() // held only to pick distinct free ports
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// checkLoopback refuses any address that is not a loopback IP: the load
// this tool makes is for this machine only.
func checkLoopback(hostport string) error {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("address %q: %w", hostport, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("refusing %q: herald-bench only loads loopback addresses (127.0.0.0/8, ::1)", hostport)
	}
	return nil
}

// moduleRoot finds the herald module (to build the servers).
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run herald-bench inside the herald module, or pass --bin")
	}
	return filepath.Dir(mod), nil
}

// buildServer builds bench/heraldsrv or bench/baseline into dir (a temp
// directory when empty) and returns the binary.
func buildServer(kind, dir string) (string, error) {
	pkg := map[string]string{"herald": "./bench/heraldsrv", "baseline": "./bench/baseline", "floor": "./bench/floor"}[kind]
	if pkg == "" {
		return "", fmt.Errorf("unknown server %q (herald, baseline, floor or external)", kind)
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "herald-bench-bin")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, map[string]string{"herald": "heraldsrv", "baseline": "baseline", "floor": "floor"}[kind])
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// machine describes where a run happened.
type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemGiB     int    `json:"mem_gib"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	GOMAXPROCS string `json:"gomaxprocs"` // of the server and of the generator
	FDLimit    uint64 `json:"fd_limit"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if _, v, ok := strings.Cut(line, ":"); ok {
					m.CPU = strings.TrimSpace(v)
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.MemGiB = int((kb + 512*1024) / (1024 * 1024))
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	g := os.Getenv("GOMAXPROCS")
	if g == "" {
		g = strconv.Itoa(runtime.GOMAXPROCS(0)) + " (default)"
	}
	m.GOMAXPROCS = g
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		m.FDLimit = rl.Cur
	}
	return m
}
