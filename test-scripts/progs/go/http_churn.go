// HTTP connection churn: N GETs, each on a new connection, to a server on a Unix socket.
// Usage: http_churn SOCKET N. Prints us_per_conn=FLOAT and conns_total=N.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	path := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}
	c := &http.Client{Transport: tr}
	get := func() {
		resp, err := c.Get("http://x/")
		if err != nil {
			fmt.Fprintln(os.Stderr, "get:", err)
			os.Exit(1)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := 0; i < 50; i++ {
		get()
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		get()
	}
	el := time.Since(start)
	fmt.Printf("us_per_conn=%.2f\nconns_total=%d\n", float64(el.Microseconds())/float64(n), n+50)
}
