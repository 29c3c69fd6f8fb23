// An HTTP server that answers with the client address it sees (r.RemoteAddr) and its own
// listener address. Usage: http_server ADDR:PORT, or http_server unix:PATH (a native Unix
// socket, the benchmark's baseline). Exits 0 on SIGTERM/SIGINT after saying so.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	network, addr := "tcp", os.Args[1]
	if strings.HasPrefix(addr, "unix:") {
		network, addr = "unix", addr[5:]
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(3)
	}
	fmt.Println("listening on", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		fmt.Println("got signal", s)
		os.Exit(0)
	}()
	http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "remote=%s local=%s\n", r.RemoteAddr, r.Context().Value(http.LocalAddrContextKey))
	}))
}
