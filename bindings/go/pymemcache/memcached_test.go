package pymemcache

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// A memcached started by this test binary on a free loopback port.
type memcached struct {
	addr string
	cmd  *exec.Cmd
}

func memcachedPath() (string, error) {
	if p := os.Getenv("MEMCACHED"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("memcached"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/bin/memcached"); err == nil {
		return "/usr/bin/memcached", nil
	}
	return "", fmt.Errorf("memcached not found (install it or set MEMCACHED)")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startMemcached starts one with the given extra arguments (e.g. "-A").
func startMemcached(extra ...string) (*memcached, error) {
	bin, err := memcachedPath()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"-l", "127.0.0.1", "-p", fmt.Sprint(port), "-U", "0", "-m", "64", "-c", "1024"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		args = append(args, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		deadline := time.Now().Add(5 * time.Second)
	wait:
		for time.Now().Before(deadline) {
			select {
			case err := <-exited: // e.g. the port was taken meanwhile
				lastErr = fmt.Errorf("memcached on %s exited: %v", addr, err)
				break wait
			default:
			}
			conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				conn.Close()
				return &memcached{addr: addr, cmd: cmd}, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		if lastErr == nil {
			lastErr = fmt.Errorf("memcached on %s did not accept connections", addr)
		}
		_ = cmd.Process.Kill()
	}
	return nil, lastErr
}

func (m *memcached) stop() {
	if m != nil && m.cmd.Process != nil {
		_ = m.cmd.Process.Kill()
	}
}

var (
	server1 *memcached
	server2 *memcached
)

func TestMain(m *testing.M) {
	var err error
	if server1, err = startMemcached(); err != nil {
		fmt.Fprintln(os.Stderr, "cannot start memcached:", err)
		os.Exit(2)
	}
	if server2, err = startMemcached(); err != nil {
		server1.stop()
		fmt.Fprintln(os.Stderr, "cannot start memcached:", err)
		os.Exit(2)
	}
	code := m.Run()
	server1.stop()
	server2.stop()
	os.Exit(code)
}
