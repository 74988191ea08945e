package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Role is a kind of cluster node.
type Role string

// The cluster roles. Each registers under MembersPrefix + role + "/".
const (
	RoleCoordinator Role = "coordinator"
	RoleTrainer     Role = "trainer"
	RoleSampler     Role = "sampler"
)

// Roles lists every role in display order.
var Roles = []Role{RoleCoordinator, RoleTrainer, RoleSampler}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	for _, k := range Roles {
		if r == k {
			return true
		}
	}
	return false
}

// KeyRoot is the etcd prefix of every latexblend key.
const KeyRoot = "/latexblend/"

// MembersPrefix is where lease-bound member records live: MembersPrefix/<role>/<id>.
const MembersPrefix = KeyRoot + "members/"

// RolePrefix is the prefix scan for one role's members. It ends in "/" so that a role
// name can never match a longer one.
func RolePrefix(r Role) string { return MembersPrefix + string(r) + "/" }

// MemberKey is the etcd key of one member record.
func MemberKey(r Role, id string) string { return RolePrefix(r) + id }

// NewID returns a fixed-width, time-ordered identifier (a ULID, 26 characters), used for
// members and jobs so that prefix scans and lexical order behave.
func NewID() string { return ulid.Make().String() }

// Member is the JSON record a node keeps in etcd while it is alive.
type Member struct {
	ID          string    `json:"id"`
	Role        Role      `json:"role"`
	Address     string    `json:"address,omitempty"`
	MetricsAddr string    `json:"metrics_address,omitempty"`
	Capacity    int       `json:"capacity"`
	QueueDepth  int       `json:"queue_depth"`
	Version     string    `json:"version"`
	BaseModelID string    `json:"base_model_id,omitempty"`
	BaseModel   string    `json:"base_model,omitempty"`
	Started     time.Time `json:"started"`
}

// Registration keeps a Member record alive in etcd under a lease with keepalive. When
// the process dies without Close, the record disappears after the lease TTL.
type Registration struct {
	cli     *clientv3.Client
	key     string
	lease   clientv3.LeaseID
	cancel  context.CancelFunc
	done    chan struct{}
	lost    chan struct{}
	mu      sync.Mutex
	member  Member
	closed  bool
	closeMu sync.Mutex
}

// Register writes m under MemberKey(m.Role, m.ID) bound to a new lease of ttl and keeps
// the lease alive until Close. Lost() is closed if the keepalive stream ends early.
func Register(ctx context.Context, cli *clientv3.Client, m Member, ttl time.Duration) (*Registration, error) {
	if !m.Role.Valid() {
		return nil, fmt.Errorf("register member: unknown role %q", m.Role)
	}
	if m.ID == "" {
		return nil, errors.New("register member: empty id")
	}
	secs := int64(ttl / time.Second)
	if secs < 1 {
		secs = 1
	}
	grant, err := cli.Grant(ctx, secs)
	if err != nil {
		return nil, fmt.Errorf("register %s %s: grant lease: %w", m.Role, m.ID, err)
	}
	r := &Registration{cli: cli, key: MemberKey(m.Role, m.ID), lease: grant.ID, member: m,
		done: make(chan struct{}), lost: make(chan struct{})}
	if err := r.put(ctx); err != nil {
		cli.Revoke(context.WithoutCancel(ctx), grant.ID)
		return nil, err
	}
	kaCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ka, err := cli.KeepAlive(kaCtx, grant.ID)
	if err != nil {
		cancel()
		cli.Revoke(context.WithoutCancel(ctx), grant.ID)
		return nil, fmt.Errorf("register %s %s: keepalive: %w", m.Role, m.ID, err)
	}
	r.cancel = cancel
	go func() {
		defer close(r.done)
		for range ka { // drain, else the client logs dropped responses
		}
		if kaCtx.Err() == nil {
			close(r.lost)
		}
	}()
	return r, nil
}

func (r *Registration) put(ctx context.Context) error {
	r.mu.Lock()
	b, err := json.Marshal(r.member)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := r.cli.Put(ctx, r.key, string(b), clientv3.WithLease(r.lease)); err != nil {
		return fmt.Errorf("register: put %s: %w", r.key, err)
	}
	return nil
}

// Key is the member's etcd key.
func (r *Registration) Key() string { return r.key }

// Lease is the lease the record is bound to; other keys owned by the member (claims,
// progress) can be bound to it so they vanish with the member.
func (r *Registration) Lease() clientv3.LeaseID { return r.lease }

// Lost is closed when the keepalive ended without Close: the membership may be gone.
func (r *Registration) Lost() <-chan struct{} { return r.lost }

// Update changes the record (e.g. queue depth) and rewrites it under the same lease.
func (r *Registration) Update(ctx context.Context, change func(*Member)) error {
	r.mu.Lock()
	change(&r.member)
	r.mu.Unlock()
	return r.put(ctx)
}

// Member returns a copy of the current record.
func (r *Registration) Member() Member {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.member
}

// Close revokes the lease, deleting the record, and stops the keepalive. Idempotent.
func (r *Registration) Close(ctx context.Context) error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.cancel()
	<-r.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := r.cli.Revoke(ctx, r.lease); err != nil {
		return fmt.Errorf("deregister %s: %w", r.key, err)
	}
	return nil
}

// Abandon stops the keepalive without revoking the lease, as a crash would: the record
// disappears once the lease TTL runs out. For fault-injection tests.
func (r *Registration) Abandon() {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.closed {
		return
	}
	r.closed = true
	r.cancel()
	<-r.done
}

// ListMembers returns the live members of the given roles (all roles when none given),
// ordered by role then id.
func ListMembers(ctx context.Context, cli *clientv3.Client, roles ...Role) ([]Member, error) {
	if len(roles) == 0 {
		roles = Roles
	}
	var out []Member
	for _, role := range roles {
		resp, err := cli.Get(ctx, RolePrefix(role), clientv3.WithPrefix())
		if err != nil {
			return nil, fmt.Errorf("list %s members: %w", role, err)
		}
		for _, kv := range resp.Kvs {
			var m Member
			if err := json.Unmarshal(kv.Value, &m); err != nil {
				return nil, fmt.Errorf("member record %s: %w", kv.Key, err)
			}
			if m.ID == "" {
				m.ID = strings.TrimPrefix(string(kv.Key), RolePrefix(role))
			}
			out = append(out, m)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return roleIndex(out[i].Role) < roleIndex(out[j].Role)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

func roleIndex(r Role) int {
	for i, k := range Roles {
		if k == r {
			return i
		}
	}
	return len(Roles)
}
