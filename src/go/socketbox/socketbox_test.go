package socketbox

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a real loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp4", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func fdOf(t *testing.T, c *net.TCPConn) (int, func()) {
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	return int(f.Fd()), func() { f.Close() }
}

func sendA(t *testing.T, path string, data []byte, fds ...int) {
	t.Helper()
	s, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(s)
	var oob []byte
	if len(fds) > 0 {
		oob = syscall.UnixRights(fds...)
	}
	if err := syscall.Sendmsg(s, data, oob, &syscall.SockaddrUnix{Name: path}, 0); err != nil {
		t.Fatal(err)
	}
}

func TestAcceptADeliversTheTCPConnWithRealAddresses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.sock")
	ln, err := ListenA(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, server := tcpPair(t)
	defer client.Close()
	fd, done := fdOf(t, server)
	// Records the router never sends are dropped (their fds closed), not returned, and do not
	// stop the listener: no fd, a wrong byte, two fds.
	sendA(t, path, []byte{0})
	sendA(t, path, []byte{7}, fd)
	sendA(t, path, []byte{0}, fd, fd)
	sendA(t, path, []byte{0}, fd)
	done()
	server.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		t.Fatalf("Accept returned %T, want *net.TCPConn", conn)
	}
	if got, want := tc.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Fatalf("RemoteAddr %s, want the client's %s", got, want)
	}
	if got, want := tc.LocalAddr().String(), client.RemoteAddr().String(); got != want {
		t.Fatalf("LocalAddr %s, want %s", got, want)
	}
	client.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(tc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("read %q, %v", buf, err)
	}
}

func TestListenARefusesALiveOrForeignPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.sock")
	ln, err := ListenA(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ListenA(path); err == nil {
		t.Fatal("a second receiver stole a live A socket")
	}
	ln.Close()
	plain := filepath.Join(dir, "file")
	os.WriteFile(plain, []byte("x"), 0o600)
	if _, err := ListenA(plain); err == nil {
		t.Fatal("a regular file was replaced")
	}
}

func TestCloseUnblocksAccept(t *testing.T) {
	ln, err := ListenA(filepath.Join(t.TempDir(), "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { _, err := ln.Accept(); res <- err }()
	time.Sleep(50 * time.Millisecond) // let Accept block (a Close before it is also fine)
	ln.Close()
	select {
	case err := <-res:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}

// A fake B server: checks the registration record, acknowledges, delivers one connection, then
// closes (as a restarting router does); the listener registers again on the next server.
func TestBRegistersDeliversAndReregisters(t *testing.T) {
	api := filepath.Join(t.TempDir(), "api")
	srv, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: api, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	registrations := make(chan uint32, 4)
	serve := func(deliver *net.TCPConn) {
		c, err := srv.AcceptUnix()
		if err != nil {
			return
		}
		rec := make([]byte, 16)
		n, _ := c.Read(rec)
		if n != 8 || rec[0] != 1 {
			c.Close()
			return
		}
		registrations <- binary.BigEndian.Uint32(rec[4:8])
		c.Write(bAck)
		f, _ := deliver.File()
		c.WriteMsgUnix(bDelivery, syscall.UnixRights(int(f.Fd())), nil)
		f.Close()
		c.Close()
	}
	client1, server1 := tcpPair(t)
	defer client1.Close()
	go serve(server1)
	ln, err := ListenB(api, 443)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if slot := <-registrations; slot != 443 {
		t.Fatalf("registered slot %d, want 443", slot)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if conn.RemoteAddr().String() != client1.LocalAddr().String() {
		t.Fatalf("RemoteAddr %s, want %s", conn.RemoteAddr(), client1.LocalAddr())
	}
	conn.Close()
	client2, server2 := tcpPair(t)
	defer client2.Close()
	go serve(server2)
	conn, err = ln.Accept() // the server closed: Accept registers again and takes the next one
	if err != nil {
		t.Fatal(err)
	}
	if conn.RemoteAddr().String() != client2.LocalAddr().String() {
		t.Fatalf("after re-registration: RemoteAddr %s, want %s", conn.RemoteAddr(), client2.LocalAddr())
	}
	conn.Close()
	srv.Close()
}

func TestBRefusedRegistrationSaysSo(t *testing.T) {
	api := filepath.Join(t.TempDir(), "api")
	srv, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: api, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		c, err := srv.AcceptUnix()
		if err == nil {
			c.Read(make([]byte, 16))
			c.Close()
		}
	}()
	if _, err := ListenB(api, 9); err == nil {
		t.Fatal("a refused registration returned a listener")
	}
	if _, err := ListenB(filepath.Join(t.TempDir(), "none"), 9); err == nil {
		t.Fatal("a missing API socket returned a listener")
	}
}
