package iptables

import (
	"strconv"

	"github.com/svcproxy/svcproxy/pkg/model"
)

// Chain name prefixes, as kube-proxy names them; the suffix is the model's
// hash of the service port or endpoint.
const (
	prefixSVC = "KUBE-SVC-"
	prefixSVL = "KUBE-SVL-"
	prefixEXT = "KUBE-EXT-"
	prefixFW  = "KUBE-FW-"
	prefixSEP = "KUBE-SEP-"
)

// Fixed chains. KUBE-SERVICES and KUBE-NODEPORTS exist in both tables.
const (
	chainServices         = "KUBE-SERVICES"
	chainNodePorts        = "KUBE-NODEPORTS"
	chainPostrouting      = "KUBE-POSTROUTING"
	chainMarkMasq         = "KUBE-MARK-MASQ"
	chainMarkMasqNonPod   = "KUBE-MARK-MASQ-NON-POD"
	chainExternalServices = "KUBE-EXTERNAL-SERVICES"
	chainProxyFirewall    = "KUBE-PROXY-FIREWALL"
	chainForward          = "KUBE-FORWARD"
)

// nodePortsComment is kube-proxy's comment on the KUBE-SERVICES rule that
// sends node-addressed traffic on to KUBE-NODEPORTS; the rule must stay
// last so that a cluster or external IP that is also a node address is
// matched as such first.
const nodePortsComment = "kubernetes service nodeports; NOTE: this must be the last rule in this chain"

// maxCommentLen is the longest comment the kernel's comment match holds
// (256 bytes with the terminating NUL); a longer one fails the whole
// restore, breaking every Service for the sake of one.
const maxCommentLen = 255

// maxNameLen bounds the service port name in comments. The model allows
// names of up to 333 characters (namespace, 253-character name, port);
// the longest text added around a name is under 60 characters, so a name
// cut to this length keeps every comment within maxCommentLen. Chain names
// carry the hash, so a cut comment loses no identity. Names are ASCII, so
// cutting bytes cannot split a character.
const maxNameLen = maxCommentLen - 60

// commentName returns the name of a service port as comments show it.
func commentName(n model.PortName) string {
	s := n.String()
	if len(s) > maxNameLen {
		s = s[:maxNameLen]
	}
	return s
}

// comment returns the comment match that starts every rule.
func comment(text string) string {
	return `-m comment --comment "` + text + `"`
}

// protoMatch returns the protocol match, spelled as kube-proxy does: the
// explicit -m loads the module whose --dport follows.
func protoMatch(p model.Protocol) string {
	switch p {
	case model.UDP:
		return "-m udp -p udp"
	case model.SCTP:
		return "-m sctp -p sctp"
	}
	return "-m tcp -p tcp"
}

// port formats a port number.
func port(p uint16) string {
	return strconv.Itoa(int(p))
}

// probability formats the chance that rule i of n picks its endpoint, as
// kube-proxy does ("%0.10f" of 1/(n-i)), so that with every earlier rule
// passed over each endpoint is equally likely.
func probability(i, n int) string {
	return strconv.FormatFloat(1/float64(n-i), 'f', 10, 64)
}
