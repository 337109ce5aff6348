package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// probeEvery is the pause between two rounds of connections.
const probeEvery = 50 * time.Millisecond

// probeConnectTimeout bounds one connect: TCP sends a SYN again after
// 1 s, so a connect that loses its first SYN succeeds after that.
const probeConnectTimeout = 3 * time.Second

// probe connects to every target, round after round, until stopped, and
// counts the connections that failed: a new TCP connection through the
// Service must be answered by one of its pods at every moment of a
// takeover, not just before and after.
type probe struct {
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	targets []string
	stop    chan struct{}
	done    chan struct{}

	mu       sync.Mutex
	tries    int
	failures []string // "time target: error", the first few
	failed   int
	servers  map[string]bool // the pod addresses that answered
	// slow are the connections answered only after TCP sent their SYN
	// again (after 1 s): late, not failed, as a client sees it; logged.
	slow []string
}

// startProbe starts probing targets through dial.
func startProbe(dial func(ctx context.Context, network, address string) (net.Conn, error), targets ...string) *probe {
	p := &probe{dial: dial, targets: targets, stop: make(chan struct{}), done: make(chan struct{}), servers: map[string]bool{}}
	go p.run()
	return p
}

func (p *probe) run() {
	defer close(p.done)
	for {
		for _, target := range p.targets {
			server, err := p.once(target)
			p.record(target, server, err)
		}
		select {
		case <-p.stop:
			return
		case <-time.After(probeEvery):
		}
	}
}

// once makes one connection and returns the server address the echo pod
// answered with.
func (p *probe) once(target string) (string, error) {
	// Long enough for one SYN sent again: a client's connect survives
	// a lost SYN, so only a second loss fails it.
	ctx, cancel := context.WithTimeout(context.Background(), probeConnectTimeout)
	defer cancel()
	start := time.Now()
	conn, err := p.dial(ctx, "tcp", target)
	if err != nil {
		return "", err
	}
	if d := time.Since(start); d > time.Second {
		p.mu.Lock()
		p.slow = append(p.slow, fmt.Sprintf("%s %s: connected after %v", start.Format("15:04:05.000"), target, d.Round(time.Millisecond)))
		p.mu.Unlock()
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the answer: %w", err)
	}
	server, _, _ := strings.Cut(line, " ")
	return server, nil
}

func (p *probe) record(target, server string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tries++
	if err == nil {
		p.servers[server] = true
		return
	}
	p.failed++
	if len(p.failures) < 10 {
		p.failures = append(p.failures, fmt.Sprintf("%s %s: %v", time.Now().Format("15:04:05.000"), target, err))
	}
}

// slowNote says how many connections were late, and when.
func (p *probe) slowNote() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.slow) == 0 {
		return "no connection was late"
	}
	return fmt.Sprintf("%d connections late (their SYN sent again): %s", len(p.slow), strings.Join(p.slow, "; "))
}

// result stops the probe and returns what it counted.
func (p *probe) result() (tries, failed int, failures []string, servers map[string]bool) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tries, p.failed, p.failures, p.servers
}
