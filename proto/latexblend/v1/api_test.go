package latexblendv1

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func TestMessagesRoundTrip(t *testing.T) {
	job := &Job{
		Id:   testJob,
		Spec: validSubmit().Spec,
		Status: &JobStatus{
			State: JobState_JOB_STATE_RUNNING, Generation: 2, TrainerIds: []string{"a", "b"},
			Step: 40, TotalSteps: 500, Loss: 0.125, StepsPerSec: 1.5, CheckpointStep: 40,
			Created: timestamppb.New(time.Unix(1700000000, 5).UTC()),
		},
	}
	msgs := []proto.Message{
		validGenerate(),
		validSubmit(),
		job,
		&GenerateResponse{Event: &GenerateResponse_Progress{Progress: &Progress{
			Phase: Phase_PHASE_DENOISING, Step: 3, Total: 50, Timestep: 961, Blended: true, Guided: true, GuidanceLoss: 0.5}}},
		&GenerateResponse{Event: &GenerateResponse_Image{Image: &ImageChunk{
			Index: 1, Offset: ChunkBytes, Data: []byte{0x89, 'P', 'N', 'G'}, Last: true, ContentType: "image/png", TotalBytes: ChunkBytes + 4}}},
		&ImportConceptRequest{Payload: &ImportConceptRequest_Header{Header: &ImportConceptHeader{Name: "mydog", SizeBytes: 7}}},
	}
	for _, m := range msgs {
		name := string(m.ProtoReflect().Descriptor().FullName())
		t.Run(name, func(t *testing.T) {
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			back := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(b, back); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !proto.Equal(m, back) {
				t.Fatalf("binary round trip changed the message:\n got %v\nwant %v", back, m)
			}
			js, err := protojson.Marshal(m)
			if err != nil {
				t.Fatalf("json marshal: %v", err)
			}
			back = m.ProtoReflect().New().Interface()
			if err := protojson.Unmarshal(js, back); err != nil {
				t.Fatalf("json unmarshal %s: %v", js, err)
			}
			if !proto.Equal(m, back) {
				t.Fatalf("JSON round trip changed the message:\n got %v\nwant %v", back, m)
			}
		})
	}
}

// The presence of optional fields must survive the wire: an explicit seed 0 or
// blending_start 0 is not the same as unset (which means the default).
func TestOptionalPresenceSurvives(t *testing.T) {
	r := &GenerateRequest{Prompt: "a dog", Seed: proto.Uint64(0), GuidanceScale: proto.Float32(0),
		Blend: &BlendOptions{BlendingStart: proto.Float32(0)}}
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back GenerateRequest
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Seed == nil || back.GuidanceScale == nil || back.GetBlend().BlendingStart == nil {
		t.Fatalf("explicit zero lost its presence: seed=%v cfg=%v blending_start=%v",
			back.Seed, back.GuidanceScale, back.GetBlend().BlendingStart)
	}
	empty, _ := proto.Marshal(&GenerateRequest{Prompt: "a dog"})
	var back2 GenerateRequest
	if err := proto.Unmarshal(empty, &back2); err != nil {
		t.Fatal(err)
	}
	if back2.Seed != nil || back2.GuidanceScale != nil {
		t.Fatalf("unset optional fields came back set: seed=%v cfg=%v", back2.Seed, back2.GuidanceScale)
	}
}

// TestServiceContracts checks that both services have exactly the methods of the
// contract, with the right streaming shape, in the generated descriptors and in the
// gRPC service descriptions servers register.
func TestServiceContracts(t *testing.T) {
	type shape struct{ client, server bool }
	unary, serverStream, clientStream := shape{}, shape{server: true}, shape{client: true}
	want := map[string]map[string]shape{
		"latexblend.v1.Coordinator": {
			"SubmitConceptJob": unary, "GetJob": unary, "ListJobs": unary, "WatchJob": serverStream,
			"CancelJob": unary, "DeleteJob": unary, "ListConcepts": unary, "GetConcept": unary,
			"DownloadConcept": serverStream, "ImportConcept": clientStream, "DeleteConcept": unary,
			"ClusterStatus": unary,
		},
		"latexblend.v1.Sampler": {"Generate": serverStream},
	}
	files := map[string]protoreflect.FileDescriptor{
		"latexblend.v1.Coordinator": File_latexblend_v1_coordinator_proto,
		"latexblend.v1.Sampler":     File_latexblend_v1_sampler_proto,
	}
	descs := map[string]grpc.ServiceDesc{
		"latexblend.v1.Coordinator": Coordinator_ServiceDesc,
		"latexblend.v1.Sampler":     Sampler_ServiceDesc,
	}
	for svcName, methods := range want {
		t.Run(svcName, func(t *testing.T) {
			fd := files[svcName]
			sd := fd.Services().ByName(protoreflect.FullName(svcName).Name())
			if sd == nil {
				t.Fatalf("service %s not in %s", svcName, fd.Path())
			}
			if sd.Methods().Len() != len(methods) {
				t.Errorf("%s has %d methods, want %d", svcName, sd.Methods().Len(), len(methods))
			}
			for name, sh := range methods {
				m := sd.Methods().ByName(protoreflect.Name(name))
				if m == nil {
					t.Errorf("%s lacks method %s", svcName, name)
					continue
				}
				if got := (shape{m.IsStreamingClient(), m.IsStreamingServer()}); got != sh {
					t.Errorf("%s.%s streaming (client, server) = %v, want %v", svcName, name, got, sh)
				}
			}

			gd := descs[svcName]
			if gd.ServiceName != svcName {
				t.Errorf("ServiceDesc.ServiceName = %q, want %q", gd.ServiceName, svcName)
			}
			got := map[string]shape{}
			for _, m := range gd.Methods {
				got[m.MethodName] = unary
			}
			for _, s := range gd.Streams {
				got[s.StreamName] = shape{s.ClientStreams, s.ServerStreams}
			}
			if len(got) != len(methods) {
				t.Errorf("ServiceDesc has %d methods, want %d", len(got), len(methods))
			}
			for name, sh := range methods {
				if g, ok := got[name]; !ok || g != sh {
					t.Errorf("ServiceDesc %s = %v (present %v), want %v", name, g, ok, sh)
				}
			}
		})
	}
}

// Every request message of every method validates itself, so the validator interceptor
// never lets one through unchecked.
func TestEveryRequestHasValidators(t *testing.T) {
	for _, fd := range []protoreflect.FileDescriptor{File_latexblend_v1_coordinator_proto, File_latexblend_v1_sampler_proto} {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				in := sd.Methods().Get(j).Input()
				mt, err := protoregistry.GlobalTypes.FindMessageByName(in.FullName())
				if err != nil {
					t.Fatalf("%s: %v", in.FullName(), err)
				}
				if _, ok := mt.New().Interface().(validating); !ok {
					t.Errorf("%s (input of %s) has no Validate/ValidateAll", in.FullName(), sd.Methods().Get(j).FullName())
				}
			}
		}
	}
}
