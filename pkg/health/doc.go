// Package health answers the health checks a service proxy owes the
// cluster, with the meaning kube-proxy gives them.
//
// [Server] serves /healthz and /livez for the kubelet, load balancers and
// cluster autoscalers: the proxy is healthy unless a change to Services or
// EndpointSlices has waited longer than a timeout without a successful
// sync, and /healthz also fails while the node is being deleted.
//
// [NodePortServers] serve the health check node ports of Services with
// externalTrafficPolicy Local, which tell a load balancer whether this
// node has a local endpoint to send the Service's traffic to.
package health
