// Package socketbox gives a Go program a net.Listener fed by a socketbox router: connections the
// router accepted arrive as *net.TCPConn with the client's real address, over the router's "A"
// protocol (a Unix datagram socket receiving one fd per datagram) or its "B" protocol (a slot
// registered on the router's SEQPACKET API socket). Pure Go, no cgo: the fds come through
// SCM_RIGHTS on net.UnixConn, so Accept and Close go through Go's poller like any listener.
//
//	ln, err := socketbox.ListenA("/run/socketbox/web.sock")   // a target `unix:/run/...`
//	ln, err := socketbox.ListenB("/run/socketbox/api", 443)     // a target `slot:443`
//	http.Serve(ln, handler)                                     // r.RemoteAddr is the client
package socketbox

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// The wire records (docs/router.md, "Delivery" and "B server").
var (
	aByte      = []byte{0x00}
	bAck       = []byte{0x80, 0, 0, 0}
	bDelivery  = []byte{0x03, 0, 0, 0}
	errClosed  = net.ErrClosed
	oobSpace   = syscall.CmsgSpace(4 * 4) // room for a few fds: a sender that sends more is refused, not truncated silently
	retryDelay = time.Second
)

// Listener is a net.Listener whose connections come from a socketbox router.
type Listener struct {
	addr   net.Addr
	mu     sync.Mutex
	conn   *net.UnixConn // the A socket, or the current B registration
	closed bool
	// B only: re-register after the router restarts.
	api  string
	slot uint32
	path string // A only: the socket file to remove on Close
}

// ListenA binds an "A" receiver at path (a stale socket file there is replaced; a file that is
// not a socket is an error). The router's target `unix:PATH` (or `-S PATH`) delivers to it.
func ListenA(path string) (*Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("socketbox: %s exists and is not a socket", path)
		}
		if c, err := net.Dial("unixgram", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("socketbox: %s is in use by another receiver", path)
		}
		os.Remove(path)
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("socketbox: cannot bind %s: %w", path, err)
	}
	c.SetReadBuffer(1 << 20)
	return &Listener{addr: c.LocalAddr(), conn: c, path: path}, nil
}

// ListenB registers slot on the router's API socket api (a path, or "@name" for an abstract
// socket) and returns once the router acknowledged it. If the router goes away, Accept
// registers again every second until it is back (connections wait in the router meanwhile).
func ListenB(api string, slot uint32) (*Listener, error) {
	c, err := register(api, slot)
	if err != nil {
		return nil, err
	}
	return &Listener{addr: c.RemoteAddr(), conn: c, api: api, slot: slot}, nil
}

func register(api string, slot uint32) (*net.UnixConn, error) {
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: api, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("socketbox: cannot reach the router's API socket %s: %w", api, err)
	}
	record := make([]byte, 8)
	record[0] = 0x01
	binary.BigEndian.PutUint32(record[4:], slot)
	if _, err := c.Write(record); err != nil {
		c.Close()
		return nil, fmt.Errorf("socketbox: registering slot %d on %s: %w", slot, api, err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 16)
	n, err := c.Read(ack)
	c.SetReadDeadline(time.Time{})
	if err != nil || !bytes.Equal(ack[:n], bAck) {
		c.Close()
		if err == nil {
			err = errors.New("the router refused the registration (wrong uid, slot taken, or not configured; see its log)")
		}
		return nil, fmt.Errorf("socketbox: slot %d on %s: %w", slot, api, err)
	}
	return c, nil
}

// Addr is the A socket's address, or the B API socket's.
func (l *Listener) Addr() net.Addr { return l.addr }

// Close stops accepting; a blocked Accept returns net.ErrClosed. For A the socket file is removed.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errClosed
	}
	l.closed = true
	err := l.conn.Close()
	if l.path != "" {
		os.Remove(l.path)
	}
	return err
}

// Accept returns the next connection the router delivered, as the net.Conn Go makes of its fd
// (a *net.TCPConn for TCP): RemoteAddr is the real client, LocalAddr the address it reached.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		l.mu.Lock()
		c, closed := l.conn, l.closed
		l.mu.Unlock()
		if closed {
			return nil, errClosed
		}
		conn, err := l.receive(c)
		if err == nil {
			return conn, nil
		}
		if errors.Is(err, errMalformed) {
			continue // the offending fds are closed; wait for the next record
		}
		if l.isClosed() {
			return nil, errClosed
		}
		if l.api == "" {
			return nil, err
		}
		// B: the router closed the registration (restart, reload). Register again.
		c.Close()
		if err := l.reregister(); err != nil {
			return nil, err
		}
	}
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *Listener) reregister() error {
	for {
		if l.isClosed() {
			return errClosed
		}
		c, err := register(l.api, l.slot)
		if err == nil {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.closed {
				c.Close()
				return errClosed
			}
			l.conn = c
			return nil
		}
		time.Sleep(retryDelay)
	}
}

var errMalformed = errors.New("socketbox: malformed record")

// receive takes one record: the A byte or the B delivery record, with exactly one fd.
func (l *Listener) receive(c *net.UnixConn) (net.Conn, error) {
	buf := make([]byte, 16)
	oob := make([]byte, oobSpace)
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	fds, perr := fdsOf(oob[:oobn])
	want := aByte
	if l.api != "" {
		want = bDelivery
		if n == 0 && len(fds) == 0 {
			return nil, errors.New("socketbox: the router closed the registration")
		}
	}
	if perr != nil || flags&syscall.MSG_CTRUNC != 0 || len(fds) != 1 || !bytes.Equal(buf[:n], want) {
		for _, fd := range fds {
			syscall.Close(fd)
		}
		return nil, errMalformed
	}
	f := os.NewFile(uintptr(fds[0]), "socketbox-connection")
	defer f.Close() // FileConn holds its own dup
	conn, err := net.FileConn(f)
	if err != nil {
		return nil, errMalformed
	}
	return conn, nil
}

func fdsOf(oob []byte) ([]int, error) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var fds []int
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_RIGHTS {
			got, err := syscall.ParseUnixRights(&m)
			if err != nil {
				return fds, err
			}
			fds = append(fds, got...)
		}
	}
	return fds, nil
}

// FromEnv returns the listener a socketbox router (or `socketbox -e`) passed this process:
// SKBOX_LISTEN_FD, else the first of systemd's LISTEN_FDS. The fd must be an A socket.
func FromEnv() (*Listener, error) {
	fd := -1
	if v := os.Getenv("SKBOX_LISTEN_FD"); v != "" {
		if _, err := fmt.Sscanf(v, "%d", &fd); err != nil || fd < 0 {
			return nil, fmt.Errorf("socketbox: SKBOX_LISTEN_FD=%q is not an fd number", v)
		}
	} else if os.Getenv("LISTEN_FDS") != "" && os.Getenv("LISTEN_PID") == fmt.Sprint(os.Getpid()) {
		fd = 3
	} else {
		return nil, errors.New("socketbox: neither SKBOX_LISTEN_FD nor LISTEN_FDS names a socket")
	}
	f := os.NewFile(uintptr(fd), "socketbox-listener")
	defer f.Close()
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fmt.Errorf("socketbox: fd %d: %w", fd, err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("socketbox: fd %d is not a Unix datagram socket", fd)
	}
	return &Listener{addr: uc.LocalAddr(), conn: uc}, nil
}
