package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/svcproxy/svcproxy/internal/netns"
	"github.com/svcproxy/svcproxy/internal/testnet"
)

// httpGet fetches url from inside a namespace, where svcproxy's health
// and metrics servers listen.
func httpGet(from *netns.NS, url string) (int, string, error) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, _, addr string) (net.Conn, error) {
			return testnet.Dial(from, testnet.TCP, netip.Addr{}, netip.MustParseAddrPort(addr), 2*time.Second)
		},
	}}
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// exchange sends one line on a connection to an echo server and returns
// the endpoint that answered.
func exchange(c net.Conn, r *bufio.Reader) (netip.AddrPort, error) {
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return netip.AddrPort{}, err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return netip.AddrPort{}, err
	}
	server, _, _ := strings.Cut(line, " ")
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad answer %q: %w", line, err)
	}
	return ap, nil
}
