// A UDP echo server: answers each datagram with "echo <data> from <sender address>" to the
// sender. Usage: udp_echo ADDR:PORT. Prints "listening on ADDR" once bound.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(3)
	}
	fmt.Println("listening on", c.LocalAddr())
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			fmt.Fprintln(os.Stderr, "read:", err)
			os.Exit(4)
		}
		if _, err := c.WriteTo([]byte(fmt.Sprintf("echo %s from %s", buf[:n], from)), from); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(5)
		}
	}
}
