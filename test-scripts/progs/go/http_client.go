// GETs a URL and prints the body, the status, and the connection's local and remote
// addresses as the program sees them. Usage: http_client URL
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func main() {
	var local, remote net.Addr
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			local, remote = c.LocalAddr(), c.RemoteAddr()
		}
		return c, err
	}}
	resp, err := (&http.Client{Transport: tr}).Get(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "get:", err)
		os.Exit(3)
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Printf("status=%d local=%s remote=%s\n%s", resp.StatusCode, local, remote, body)
}
