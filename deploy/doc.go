// Package deploy holds deployment assets (docker-compose, Kubernetes manifests) for running
// latexblend against a real etcd and NATS cluster. It contains no Go logic.
package deploy
