// Package latexblendv1 is latexblend's gRPC API, version 1: the Coordinator service
// (concept onboarding jobs, the concept bank, cluster status) and the Sampler service
// (multi-concept generation with LatexBlend).
//
// The .proto files beside this file are the source of truth; the *.pb.go files are
// generated from them by scripts/genproto.sh (`make proto`) with pinned generator
// versions and are committed, and scripts/verify-proto.sh fails when they are stale.
// The hand-written files add request validation (Validate / ValidateAll, called by
// go-grpc-middleware's validator interceptor) and the API's limits and defaults as
// constants. docs/api.md describes the API for users.
//
// Health checking uses the standard grpc.health.v1 service from
// google.golang.org/grpc/health, with the service names
// Coordinator_ServiceDesc.ServiceName and Sampler_ServiceDesc.ServiceName.
package latexblendv1
