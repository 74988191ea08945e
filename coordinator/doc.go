// Package coordinator owns concept-onboarding jobs: it stores them in etcd, elects a
// leader among coordinator replicas, gang-schedules trainer rings, recovers elastically
// when a trainer is lost, and keeps the shared concept bank registry.
package coordinator
