// Package bench measures svcproxy end to end on a synthetic cluster: how
// long rendering takes and how much it allocates, and, in a throwaway
// network namespace, how long the kernel takes to load the first full
// ruleset and then each of a few small changes.
//
// The pure parts (the cluster generator, the scenario of changes, the
// render measurement, table, CSV and plot output) do no kernel I/O; the
// kernel parts take the name of a namespace the caller owns.
package bench
