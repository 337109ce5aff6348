// Command echo is the serving image of the test cluster: it listens on
// TCP port 8080 and answers each connection with one line,
// "<server addr:port> <client addr:port>" as it saw them (the answer of
// internal/testnet's TCP echo servers), then closes it. The server
// address says which pod answered, the client address whether the
// connection was translated on the way. It exits on SIGTERM or SIGINT;
// as the first process of its container it would otherwise ignore them.
package main

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// port is EchoPort of internal/kubecluster.
const port = "8080"

// linger bounds how long one client may hold its connection.
const linger = 2 * time.Second

func main() {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The one line it logs, so that a test can read a pod's logs through
	// the apiserver and the kubelet.
	fmt.Println("serving on", l.Addr())
	go serve(l)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}

// serve answers every connection on l.
func serve(l net.Listener) {
	for {
		conn, err := l.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		go answer(conn)
	}
}

// answer writes the one line and closes conn.
func answer(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(linger))
	fmt.Fprintf(conn, "%s %s\n", conn.LocalAddr(), conn.RemoteAddr())
}
