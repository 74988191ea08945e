package coordinator

import (
	"context"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/latexblend/latexblend/proto/latexblend/v1"
	"github.com/latexblend/latexblend/service"
	"github.com/latexblend/latexblend/trainer"
)

// ConceptsPrefix is the concept registry in etcd: ConceptsPrefix + <name>.
const ConceptsPrefix = trainer.ConceptsPrefix

// api implements the Coordinator gRPC service. Every replica answers from etcd and the
// object store; only the leader schedules.
type api struct {
	pb.UnimplementedCoordinatorServer
	c *Coordinator
}

// registerAPI registers the Coordinator gRPC service on the node's server.
func registerAPI(c *Coordinator) {
	pb.RegisterCoordinatorServer(c.node.GRPC.Server, &api{c: c})
}

var roleToProto = map[service.Role]pb.Role{
	service.RoleCoordinator: pb.Role_ROLE_COORDINATOR,
	service.RoleTrainer:     pb.Role_ROLE_TRAINER,
	service.RoleSampler:     pb.Role_ROLE_SAMPLER,
}

// MemberToProto converts an etcd member record to its API form.
func MemberToProto(m service.Member) *pb.Member {
	return &pb.Member{
		Role: roleToProto[m.Role], Id: m.ID, Address: m.Address, MetricsAddress: m.MetricsAddr,
		Capacity: int32(m.Capacity), QueueDepth: int32(m.QueueDepth), Version: m.Version,
		BaseModelId: m.BaseModelID, BaseModel: m.BaseModel, Started: timestamppb.New(m.Started),
	}
}

// MemberFromProto converts an API member back to the etcd record form.
func MemberFromProto(m *pb.Member) service.Member {
	out := service.Member{
		ID: m.Id, Address: m.Address, MetricsAddr: m.MetricsAddress, Capacity: int(m.Capacity),
		QueueDepth: int(m.QueueDepth), Version: m.Version, BaseModelID: m.BaseModelId, BaseModel: m.BaseModel,
		Started: m.Started.AsTime(),
	}
	for r, p := range roleToProto {
		if p == m.Role {
			out.Role = r
		}
	}
	return out
}

func (a *api) ClusterStatus(ctx context.Context, _ *pb.ClusterStatusRequest) (*pb.ClusterStatusResponse, error) {
	cli := a.c.node.Etcd
	members, err := service.ListMembers(ctx, cli)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	leader, err := Leader(ctx, cli)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	claims, err := cli.Get(ctx, trainer.ClaimsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, service.ToStatus(err)
	}
	jobOf := map[string]string{}
	for _, kv := range claims.Kvs {
		jobOf[strings.TrimPrefix(string(kv.Key), trainer.ClaimsPrefix)] = string(kv.Value)
	}
	resp := &pb.ClusterStatusResponse{LeaderId: leader}
	for _, m := range members {
		pm := MemberToProto(m)
		if m.Role == service.RoleTrainer {
			pm.JobId = jobOf[m.ID]
		}
		resp.Members = append(resp.Members, pm)
		if m.Role == service.RoleCoordinator && m.ID == leader {
			resp.LeaderAddress = m.Address
		}
	}
	concepts, err := cli.Get(ctx, ConceptsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, service.ToStatus(err)
	}
	resp.Concepts = int32(concepts.Count)
	jobs, err := listJobs(ctx, cli)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	for _, j := range jobs {
		switch j.Status.State {
		case pb.JobState_JOB_STATE_PENDING:
			resp.PendingJobs++
		case pb.JobState_JOB_STATE_RUNNING:
			resp.RunningJobs++
		}
	}
	return resp, nil
}
