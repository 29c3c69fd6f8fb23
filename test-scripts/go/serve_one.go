// A Go server (cgo, dynamically linked): listens on 127.0.0.1:PORT, says so, answers one
// connection with "hello from go" and exits. For t-doc-examples' Go example (seccomp backend).
package main

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"net"
	"os"
)

func main() {
	_ = C.free
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening", l.Addr())
	c, err := l.Accept()
	if err != nil {
		fmt.Println("accept:", err)
		os.Exit(1)
	}
	c.Write([]byte("hello from go\n"))
	c.Close()
}
