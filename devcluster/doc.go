// Package devcluster starts an embedded etcd and an embedded NATS server with JetStream on
// random loopback ports with temporary data directories. Tests and `latexblend dev` use it
// to run the whole system in one process.
package devcluster
