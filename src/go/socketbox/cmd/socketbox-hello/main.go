// socketbox-hello: an HTTP server fed by a socketbox router through package socketbox.
// Every answer says which client the server saw and on which address it was reached.
//
//	socketbox-hello a PATH        receive over A at PATH
//	socketbox-hello b API SLOT    register SLOT on the router's API socket
package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"

	"sockswap/socketbox"
)

func main() {
	var ln *socketbox.Listener
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "a":
		ln, err = socketbox.ListenA(os.Args[2])
	case len(os.Args) == 4 && os.Args[1] == "b":
		slot, perr := strconv.ParseUint(os.Args[3], 10, 32)
		if perr != nil {
			log.Fatalf("bad slot %q", os.Args[3])
		}
		ln, err = socketbox.ListenB(os.Args[2], uint32(slot))
	default:
		fmt.Fprintln(os.Stderr, "usage: socketbox-hello a PATH | b API SLOT")
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ready")
	handler := func(w http.ResponseWriter, r *http.Request) {
		local := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		_, isTCP := localConn[local.Network()]
		fmt.Fprintf(w, "client=%s local=%s tcp=%v\n", r.RemoteAddr, local, isTCP)
	}
	log.Fatal(http.Serve(ln, http.HandlerFunc(handler)))
}

var localConn = map[string]struct{}{"tcp": {}}
