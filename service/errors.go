package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain sentinel errors shared by every service. Packages wrap them with %w; ToStatus is
// the one place they become gRPC codes, and FromStatus turns codes back into them on the
// client side.
var (
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrUnavailable     = errors.New("unavailable")
	ErrQueueFull       = errors.New("queue full")
	ErrNotLeader       = errors.New("not the leader")
	ErrFailed          = errors.New("failed precondition")
	ErrUnauthenticated = errors.New("unauthenticated")
)

var sentinelCodes = []struct {
	err  error
	code codes.Code
}{
	{ErrInvalidArgument, codes.InvalidArgument},
	{ErrNotFound, codes.NotFound},
	{ErrAlreadyExists, codes.AlreadyExists},
	{ErrUnavailable, codes.Unavailable},
	{ErrQueueFull, codes.ResourceExhausted},
	{ErrNotLeader, codes.Unavailable},
	{ErrFailed, codes.FailedPrecondition},
	{ErrUnauthenticated, codes.Unauthenticated},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// ToStatus maps an error to a gRPC status error, keeping its message. Errors that already
// carry a status pass through; unknown errors become codes.Internal.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	for _, s := range sentinelCodes {
		if errors.Is(err, s.err) {
			return status.Error(s.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// FromStatus maps a gRPC status error back to an error wrapping the matching sentinel, so
// client code can use errors.Is.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return err
	}
	for _, s := range sentinelCodes {
		if s.code == st.Code() {
			return &statusError{sentinel: s.err, st: st}
		}
	}
	return err
}

type statusError struct {
	sentinel error
	st       *status.Status
}

func (e *statusError) Error() string              { return e.st.Message() }
func (e *statusError) Unwrap() error              { return e.sentinel }
func (e *statusError) GRPCStatus() *status.Status { return e.st }
