package service

import (
	"context"
	"crypto/subtle"
	"strings"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TokenEnv is the environment variable that carries the bearer token when no flag does.
const TokenEnv = "LATEXBLEND_TOKEN"

// bearerAuth accepts calls whose "authorization: bearer <token>" metadata matches token.
func bearerAuth(token string) auth.AuthFunc {
	want := []byte(token)
	return func(ctx context.Context) (context.Context, error) {
		got, err := auth.AuthFromMD(ctx, "bearer")
		if err != nil {
			return nil, err // already codes.Unauthenticated
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			return nil, status.Error(codes.Unauthenticated, "invalid bearer token")
		}
		return ctx, nil
	}
}

// notHealth selects every call except the standard health service, which load balancers
// and probes call without credentials.
func notHealth(_ context.Context, c interceptors.CallMeta) bool {
	return !strings.HasPrefix(c.FullMethod(), "/"+grpc_health_v1.Health_ServiceDesc.ServiceName+"/")
}

// tokenCredentials attaches a bearer token to every client call.
type tokenCredentials struct {
	token      string
	requireTLS bool
}

func (t tokenCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + t.token}, nil
}

func (t tokenCredentials) RequireTransportSecurity() bool { return t.requireTLS }

// BearerToken returns per-RPC credentials that send token. Without TLS the token travels
// in clear text; Dial warns when that happens towards a non-loopback address.
func BearerToken(token string, requireTLS bool) credentials.PerRPCCredentials {
	return tokenCredentials{token: token, requireTLS: requireTLS}
}

var _ grpc.DialOption = grpc.WithPerRPCCredentials(tokenCredentials{})
