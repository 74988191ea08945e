// Package service is the lifecycle shared by the coordinator, trainer and sampler roles:
// etcd membership under a lease, the gRPC server with its middleware chain (logging, auth,
// validation, recovery, metrics), health, optional TLS, and the Prometheus /metrics endpoint.
package service
