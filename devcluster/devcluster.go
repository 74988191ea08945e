package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config describes the embedded cluster to start. The zero value is usable.
type Config struct {
	// Dir is where etcd and JetStream keep their data. Empty means a fresh temporary
	// directory that Close removes.
	Dir string
	// NATSServers is how many nats-servers to start, joined as one NATS cluster (default 1).
	NATSServers int
	// MaxPayload is the NATS max_payload in bytes (default: the server default, 1 MiB).
	MaxPayload int32
	// NoEtcd skips etcd, for tests that need only NATS.
	NoEtcd bool
	// ReadyTimeout bounds the wait for each server (default 30 s).
	ReadyTimeout time.Duration
	// Logger receives lifecycle messages (default: discard).
	Logger *slog.Logger
}

// Cluster is a running embedded etcd plus NATS. Close it exactly once.
type Cluster struct {
	// EtcdEndpoints are the client URLs of the embedded etcd (empty with NoEtcd).
	EtcdEndpoints []string
	// NATSURLs are the client URLs of the nats-servers, one per server.
	NATSURLs []string

	etcd      *embed.Etcd
	nats      []*natsserver.Server
	dir       string
	removeDir bool
	closeOnce sync.Once
	closeErr  error
}

// NATSURL is the client URL of the first nats-server.
func (c *Cluster) NATSURL() string { return c.NATSURLs[0] }

// JetStream connects a client to the first nats-server and opens JetStream on it; the
// caller closes the connection.
func (c *Cluster) JetStream() (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.NATSURL())
	if err != nil {
		return nil, nil, fmt.Errorf("devcluster: connect to %s: %w", c.NATSURL(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("devcluster: jetstream: %w", err)
	}
	return nc, js, nil
}

// NATSServer returns the i-th embedded nats-server, for tests that inspect its stats.
func (c *Cluster) NATSServer(i int) *natsserver.Server { return c.nats[i] }

// Start boots etcd and NATS on random loopback ports and waits until both accept clients.
// On error everything already started is shut down.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.NATSServers == 0 {
		cfg.NATSServers = 1
	}
	if cfg.NATSServers < 0 || cfg.NATSServers > 64 {
		return nil, fmt.Errorf("devcluster: NATSServers=%d out of range 1..64", cfg.NATSServers)
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c := &Cluster{dir: cfg.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "latexblend-devcluster-")
		if err != nil {
			return nil, fmt.Errorf("devcluster: temp dir: %w", err)
		}
		c.dir, c.removeDir = d, true
	}
	if err := c.startNATS(cfg); err != nil {
		c.Close()
		return nil, err
	}
	if !cfg.NoEtcd {
		if err := c.startEtcd(ctx, cfg); err != nil {
			c.Close()
			return nil, err
		}
	}
	cfg.Logger.Info("devcluster ready", "etcd", c.EtcdEndpoints, "nats", c.NATSURLs)
	return c, nil
}

func (c *Cluster) startEtcd(ctx context.Context, cfg Config) error {
	ec := embed.NewConfig()
	ec.Name = "devcluster"
	ec.Dir = c.dir + "/etcd"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	clientURL, _ := url.Parse("http://127.0.0.1:0")
	peerURL, err := freeLoopbackURL()
	if err != nil {
		return err
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*clientURL}, []url.URL{*clientURL}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peerURL}, []url.URL{*peerURL}
	ec.InitialCluster = ec.Name + "=" + peerURL.String()
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("devcluster: start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("devcluster: etcd failed while starting: %w", err)
	case <-time.After(cfg.ReadyTimeout):
		e.Close()
		return fmt.Errorf("devcluster: etcd not ready after %s", cfg.ReadyTimeout)
	case <-ctx.Done():
		e.Close()
		return fmt.Errorf("devcluster: waiting for etcd: %w", ctx.Err())
	}
	c.etcd = e
	for _, l := range e.Clients {
		c.EtcdEndpoints = append(c.EtcdEndpoints, "http://"+l.Addr().String())
	}
	return nil
}

// freeLoopbackURL reserves a loopback port for etcd's peer listener. The advertised peer
// URL must carry a real port, so port 0 cannot be used there.
func freeLoopbackURL() (*url.URL, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("devcluster: reserve port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return url.Parse("http://" + addr)
}

func (c *Cluster) startNATS(cfg Config) error {
	n := cfg.NATSServers
	var routes []*url.URL
	clusterPorts := make([]int, n)
	if n > 1 {
		for i := range n {
			u, err := freeLoopbackURL()
			if err != nil {
				return err
			}
			p, _ := strconv.Atoi(u.Port())
			clusterPorts[i] = p
			routes = append(routes, &url.URL{Scheme: "nats", Host: u.Host})
		}
	}
	for i := range n {
		opts := &natsserver.Options{
			ServerName: fmt.Sprintf("devcluster-nats-%d", i),
			Host:       "127.0.0.1",
			Port:       natsserver.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   fmt.Sprintf("%s/nats-%d", c.dir, i),
			NoLog:      true,
			NoSigs:     true,
			MaxPayload: cfg.MaxPayload,
		}
		if n > 1 {
			opts.Cluster = natsserver.ClusterOpts{Name: "devcluster", Host: "127.0.0.1", Port: clusterPorts[i]}
			opts.Routes = routes
		}
		s, err := natsserver.NewServer(opts)
		if err != nil {
			return fmt.Errorf("devcluster: nats-server %d: %w", i, err)
		}
		go s.Start()
		c.nats = append(c.nats, s)
		if !s.ReadyForConnections(cfg.ReadyTimeout) {
			return fmt.Errorf("devcluster: nats-server %d not ready after %s", i, cfg.ReadyTimeout)
		}
		c.NATSURLs = append(c.NATSURLs, s.ClientURL())
	}
	if n > 1 {
		deadline := time.Now().Add(cfg.ReadyTimeout)
		for _, s := range c.nats {
			for s.NumRoutes() < n-1 {
				if time.Now().After(deadline) {
					return fmt.Errorf("devcluster: NATS cluster of %d did not form within %s", n, cfg.ReadyTimeout)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return nil
}

// Close stops NATS and etcd and removes a temporary data directory. Callers must close
// their etcd clients first: etcd waits for open client streams otherwise. Close is
// idempotent.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		for _, s := range c.nats {
			s.Shutdown()
			s.WaitForShutdown()
		}
		if c.etcd != nil {
			c.etcd.Close()
			select {
			case <-c.etcd.Server.StopNotify():
			case <-time.After(10 * time.Second):
				c.closeErr = errors.New("devcluster: etcd did not stop within 10s")
			}
		}
		if c.removeDir {
			if err := os.RemoveAll(c.dir); err != nil && c.closeErr == nil {
				c.closeErr = fmt.Errorf("devcluster: remove %s: %w", c.dir, err)
			}
		}
	})
	return c.closeErr
}
