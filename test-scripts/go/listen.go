// A Go server linked dynamically (cgo), as distributions often build them: listens on
// 127.0.0.1:PORT, says so, and exits. Used by t-go-refused: under the shim with rules in force
// it must never get to main.
package main

// #include <stdlib.h>
import "C"

import (
	"fmt"
	"net"
	"os"
)

func main() {
	_ = C.free // keep the C import: a cgo binary is dynamically linked against libc
	l, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	fmt.Println("listening", l.Addr())
	l.Close()
}
