// Package watch follows the cluster state svcproxy proxies: Services,
// EndpointSlices and this node's Node, through client-go informers.
//
// A Watcher owns the informers and feeds their events to a Tracker. The
// Tracker keeps the current objects and records what changed since the last
// Snapshot as previous/current pairs, one per object, dropping changes the
// model cannot see. A Snapshot hands the current objects to model.Build and
// says which Services the changes touched.
package watch
