// Package testnet builds a small network of namespaces in which a test
// can load service proxy rules into a "node" and send real TCP and UDP
// traffic through them, from pods, from the node itself and from an
// external client, to echo servers that say which endpoint answered and
// which client address they saw.
//
// # Address plan
//
// Every namespace is created by [netns.New], so it is deleted when the
// test ends. The plan uses private and documentation ranges only and
// never touches the host's own namespace. It is the part of the
// repository's test address plan, docs/test-addresses.md, that a
// topology needs: tests that build one take pods, clients and virtual
// addresses from the roles that plan gives them.
//
//	namespace  interface            IPv4               IPv6
//	---------  -------------------  -----------------  ------------------
//	node       lo                   127.0.0.1          ::1
//	node       vpod<i> (to pod i)   10.1.<x>.1/24      fd00:1:<x>::1/64
//	node       ext0 (to external)   192.168.0.10/24    fd00:192::10/64
//	pod i      eth0                 10.1.<x>.<y>/24    fd00:1:<x>::<y>/64
//	external   eth0                 192.168.0.100/24   fd00:192::100/64
//	external   eth0 (extra, /32)    203.0.113.0/24     2001:db8:203::/48
//
// The caller picks each pod's addresses (say 10.1.1.5 and fd00:1:1::5);
// the node side of that pod's veth takes the first address of the same
// /24 and /64 (10.1.1.1 and fd00:1:1::1), which is the pod's default
// gateway. Giving each pod its own subnet means the node reaches every
// pod by a connected route and needs no other routing.
//
// The node IP is [NodeIPv4] (192.168.0.10) and [NodeIPv6]
// (fd00:192::10). The external namespace routes everything through the
// node, and the node's own default route points at the external
// namespace, as a real node's would at its upstream router, so traffic
// the node originates towards a ClusterIP or other virtual address has
// a route before the proxy's OUTPUT rules rewrite it. A packet for an
// address that no namespace owns therefore bounces between the two until
// its TTL runs out, and its sender sees a timeout. Extra external
// client addresses (for example 203.0.113.7 and 203.0.113.200, see
// [Topology.AddExternalClient]) sit on the external side as host routes,
// with a route on the node for each through [ExternalIPv4], so a test can
// connect "from" several outside sources. Virtual addresses such as a
// LoadBalancer VIP (192.0.2.10/32) can be put on the node's lo with
// [Topology.AddNodeAddr]. An address on no link, such as 198.51.100.99,
// is never answered.
//
// # Kernel settings
//
// The node forwards IPv4 and IPv6. In every namespace duplicate address
// detection is off, so IPv6 addresses are usable at once, and ICMP
// errors are not rate limited, so a burst of connections to a rejected
// port is refused every time instead of timing out now and then.
//
// # Echo servers and clients
//
// [StartEcho] (or [Pod.StartEcho]) runs TCP and UDP echo servers inside a
// namespace, in this process: the sockets are created on an OS thread
// that has joined the namespace, and a socket stays in the namespace it
// was created in. Each connection or datagram is answered with one line,
// "<server address:port> <client address:port>", as the server saw them.
// [Ask] and [AskMany] are the matching clients; [Refused] and [TimedOut]
// tell a rejected connection from a dropped one.
package testnet
