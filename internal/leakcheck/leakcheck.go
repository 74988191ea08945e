// Package leakcheck is goleak's TestMain check with the one known third-party leak
// tolerated, so every package that talks to JetStream applies the same rule.
package leakcheck

import (
	"testing"

	"go.uber.org/goleak"
)

// natsJetStreamReconnect is nats.go v1.55.0's jetstream.resetPendingAcksOnReconnect: it
// blocks forever on a nil channel when a connection is closed while an object Put is
// still publishing (a crashed trainer, a dev cluster shut down mid-upload). It is the
// library's goroutine, not ours, and cannot be stopped from outside.
const natsJetStreamReconnect = "github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"

// VerifyTestMain runs the tests, then fails if any goroutine other than the tolerated
// one is still running.
func VerifyTestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(natsJetStreamReconnect))
}
