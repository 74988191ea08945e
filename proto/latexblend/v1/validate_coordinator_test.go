package latexblendv1

import (
	"fmt"
	"strings"
	"testing"
)

const (
	testUpload = "01JDZ8Q3M4N5P6R7S8T9V0W1X2"
	testJob    = "01JDZ8Q3M4N5P6R7S8T9V0W1X3"
)

var testDigest = "sha256:" + strings.Repeat("0123456789abcdef", 4)

func image(i int, caption string) *ImageRef {
	return &ImageRef{
		Object:    fmt.Sprintf("uploads/%s/%04d.png", testUpload, i),
		Digest:    testDigest,
		SizeBytes: 12345,
		Caption:   caption,
		Filename:  fmt.Sprintf("img%d.png", i),
	}
}

func validSubmit() *SubmitConceptJobRequest {
	return &SubmitConceptJobRequest{Spec: &ConceptJobSpec{
		ConceptName:          "mydog",
		ClassNoun:            "dog",
		ModifierToken:        "<new1>",
		InitToken:            "ktn",
		InstanceImages:       []*ImageRef{image(0, ""), image(1, "")},
		RegularizationImages: []*ImageRef{image(2, "a dog on grass")},
		UploadId:             testUpload,
		Steps:                500,
		LearningRate:         1e-5,
		ScaleLr:              true,
		BatchSize:            1,
		Resolution:           512,
		Seed:                 42,
		Workers:              3,
		CheckpointEvery:      50,
		Templates:            []string{"a photo of a {}", "{}"},
		ExtractPrompt:        "photo of <new1> dog",
		BaseModelId:          "sha256:abc",
	}}
}

func TestSubmitConceptJobValidate(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(s *ConceptJobSpec)
		want   string
	}{
		{"valid", func(s *ConceptJobSpec) {}, ""},
		{"defaults", func(s *ConceptJobSpec) {
			s.ModifierToken, s.InitToken, s.Steps, s.LearningRate, s.BatchSize = "", "", 0, 0, 0
			s.Resolution, s.Workers, s.CheckpointEvery, s.Templates, s.ExtractPrompt, s.BaseModelId = 0, 0, 0, nil, "", ""
			s.RegularizationImages = nil
		}, ""},
		{"default modifier in extract prompt", func(s *ConceptJobSpec) { s.ModifierToken = "" }, ""},
		{"bad name", func(s *ConceptJobSpec) { s.ConceptName = "a/b" },
			`spec.concept_name: "a/b" is not a valid concept name`},
		{"dot-dot name", func(s *ConceptJobSpec) { s.ConceptName = "a..b" }, `spec.concept_name: "a..b" is not a valid`},
		{"empty noun", func(s *ConceptJobSpec) { s.ClassNoun = "" }, `spec.class_noun: must not be empty`},
		{"noun with trailing space", func(s *ConceptJobSpec) { s.ClassNoun = "dog " },
			`spec.class_noun: "dog " has leading, trailing or repeated spaces`},
		{"modifier with space", func(s *ConceptJobSpec) { s.ModifierToken = "<new 1>" },
			`spec.modifier_token: "<new 1>" contains whitespace`},
		{"modifier equals noun", func(s *ConceptJobSpec) { s.ModifierToken = "Dog" },
			`spec.modifier_token: "Dog" must differ from the class noun`},
		{"init token too long", func(s *ConceptJobSpec) { s.InitToken = strings.Repeat("k", 33) },
			`spec.init_token: must be at most 32 bytes, got 33`},
		{"no images", func(s *ConceptJobSpec) { s.InstanceImages = nil },
			`spec.instance_images: at least one image is required`},
		{"missing upload id", func(s *ConceptJobSpec) { s.UploadId = "" }, `spec.upload_id: "" is not an id`},
		{"image outside upload", func(s *ConceptJobSpec) { s.InstanceImages[1].Object = "uploads/other/1.png" },
			`spec.instance_images[1].object: "uploads/other/1.png" is not under uploads/` + testUpload + `/`},
		{"image path trick", func(s *ConceptJobSpec) { s.InstanceImages[0].Object = "uploads/" + testUpload + "/../x" },
			`spec.instance_images[0].object: "uploads/` + testUpload + `/../x" is not a plain object name`},
		{"image absolute", func(s *ConceptJobSpec) { s.InstanceImages[0].Object = "/etc/passwd" },
			`is not a plain object name`},
		{"image listed twice", func(s *ConceptJobSpec) { s.RegularizationImages[0].Object = s.InstanceImages[0].Object },
			`spec.regularization_images[0].object: "uploads/` + testUpload + `/0000.png" is already listed as spec.instance_images[0]`},
		{"bad digest", func(s *ConceptJobSpec) { s.InstanceImages[0].Digest = "SHA-256=abc" },
			`spec.instance_images[0].digest: "SHA-256=abc" is not a digest`},
		{"uppercase digest", func(s *ConceptJobSpec) { s.InstanceImages[0].Digest = strings.ToUpper(testDigest) },
			`is not a digest`},
		{"empty image", func(s *ConceptJobSpec) { s.InstanceImages[0].SizeBytes = 0 },
			`spec.instance_images[0].size_bytes: must be in 1..33554432, got 0`},
		{"oversize image", func(s *ConceptJobSpec) { s.RegularizationImages[0].SizeBytes = MaxImageBytes + 1 },
			`spec.regularization_images[0].size_bytes: must be in 1..33554432, got 33554433`},
		{"nil image", func(s *ConceptJobSpec) { s.InstanceImages[1] = nil }, `spec.instance_images[1]: must not be empty`},
		{"steps negative", func(s *ConceptJobSpec) { s.Steps = -5 },
			`spec.steps: must be in 1..100000 (or 0 for the default 1500), got -5`},
		{"lr negative", func(s *ConceptJobSpec) { s.LearningRate = -1e-5 },
			`spec.learning_rate: must be in (0, 1] (or 0 for the default 1e-05), got -1e-05`},
		{"lr too big", func(s *ConceptJobSpec) { s.LearningRate = 2 }, `spec.learning_rate: must be in (0, 1]`},
		{"batch too big", func(s *ConceptJobSpec) { s.BatchSize = 65 },
			`spec.batch_size: must be in 1..64 (or 0 for the default 1), got 65`},
		{"resolution odd", func(s *ConceptJobSpec) { s.Resolution = 500 },
			`spec.resolution: must be a multiple of 8 in 16..2048 (or 0 for the model's training size), got 500`},
		{"workers too many", func(s *ConceptJobSpec) { s.Workers = 65 },
			`spec.workers: must be in 1..64 (or 0 for the default 1), got 65`},
		{"checkpoint beyond steps", func(s *ConceptJobSpec) { s.CheckpointEvery = 501 },
			`spec.checkpoint_every: must be in 1..500 (the job's steps; or 0 for the default 100), got 501`},
		{"template without slot", func(s *ConceptJobSpec) { s.Templates[1] = "a photo" },
			`spec.templates[1]: "a photo" must contain exactly one "{}"`},
		{"template with two slots", func(s *ConceptJobSpec) { s.Templates[0] = "{} and {}" }, `found 2`},
		{"extract prompt without noun", func(s *ConceptJobSpec) { s.ExtractPrompt = "photo of <new1> cat" },
			`spec.extract_prompt: "photo of <new1> cat" must contain the modifier token followed by the class noun, "<new1> dog"`},
		{"base model id with space", func(s *ConceptJobSpec) { s.BaseModelId = "a b" },
			`spec.base_model_id: "a b" contains whitespace`},
		{"token only with places", func(s *ConceptJobSpec) {
			s.TokenOnly, s.Places, s.PlaceFillers = true, 3, []string{"cat", "teddy bear"}
		}, ""},
		{"one place without fillers", func(s *ConceptJobSpec) { s.Places = 1 }, ""},
		// Only the tokenizer can tell that "hot dog" holds the noun: the runner checks it
		// before training (trainer.CheckExtract).
		{"filler holding the noun", func(s *ConceptJobSpec) { s.Places, s.PlaceFillers = 2, []string{"hot dog"} }, ""},
		{"places negative", func(s *ConceptJobSpec) { s.Places = -1 },
			`spec.places: must be in 1..16 (or 0 for 1, the bank entry alone), got -1`},
		{"places too many", func(s *ConceptJobSpec) { s.Places = MaxPlaces + 1 }, `spec.places: must be in 1..16`},
		{"fillers without places", func(s *ConceptJobSpec) { s.PlaceFillers = []string{"cat"} },
			`spec.place_fillers: 1 given, but places is 0 (fillers are for places 2 and later)`},
		{"too few fillers", func(s *ConceptJobSpec) { s.Places, s.PlaceFillers = 3, []string{"cat"} },
			`spec.place_fillers: 3 places need 2 filler nouns (one per place after the first), got 1`},
		{"too many fillers", func(s *ConceptJobSpec) { s.Places, s.PlaceFillers = 2, []string{"cat", "cow"} },
			`spec.place_fillers: 2 places need 1 filler nouns (one per place after the first), got 2`},
		{"filler is the class noun", func(s *ConceptJobSpec) { s.Places, s.PlaceFillers = 3, []string{"cat", "DOG"} },
			`spec.place_fillers[1]: "DOG" is the concept's own class noun`},
		{"filler not a noun", func(s *ConceptJobSpec) { s.Places, s.PlaceFillers = 2, []string{"a  cat"} },
			`spec.place_fillers[0]: "a  cat" has leading, trailing or repeated spaces`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := validSubmit()
			tc.mutate(r.Spec)
			checkValidation(t, r.Validate(), tc.want)
			if tc.want != "" {
				checkValidation(t, r.ValidateAll(), tc.want)
			}
		})
	}
	checkValidation(t, (&SubmitConceptJobRequest{}).Validate(), "spec: must not be empty")
}

type validating interface {
	Validate() error
	ValidateAll() error
}

func TestCoordinatorRequestsValidate(t *testing.T) {
	big := strings.Repeat("x", MaxChunkBytes+1)
	cases := []struct {
		name string
		req  validating
		want string
	}{
		{"get job", &GetJobRequest{JobId: testJob}, ""},
		{"get job lowercase id", &GetJobRequest{JobId: strings.ToLower(testJob)}, ""},
		{"get job bad id", &GetJobRequest{JobId: "12"}, `job_id: "12" is not an id: want a 26-character ULID`},
		{"get job id with I", &GetJobRequest{JobId: "01JDZ8Q3M4N5P6R7S8T9V0W1XI"}, `is not an id`},
		{"get job id overflow", &GetJobRequest{JobId: "81JDZ8Q3M4N5P6R7S8T9V0W1X2"}, `is not an id`},
		{"watch job", &WatchJobRequest{JobId: testJob}, ""},
		{"watch job empty", &WatchJobRequest{}, `job_id: "" is not an id`},
		{"delete job bad", &DeleteJobRequest{JobId: testJob + "/"}, `job_id:`},
		{"cancel job", &CancelJobRequest{JobId: testJob, Reason: "wrong images"}, ""},
		{"cancel reason too long", &CancelJobRequest{JobId: testJob, Reason: strings.Repeat("r", 513)},
			`reason: must be at most 512 bytes, got 513`},
		{"list jobs", &ListJobsRequest{States: []JobState{JobState_JOB_STATE_RUNNING}, PageSize: 10}, ""},
		{"list jobs unspecified state", &ListJobsRequest{States: []JobState{JobState_JOB_STATE_UNSPECIFIED}},
			`states[0]: JOB_STATE_UNSPECIFIED is not a job state to filter on`},
		{"list jobs unknown state", &ListJobsRequest{States: []JobState{JobState_JOB_STATE_DONE, 42}},
			`states[1]: 42 is not a job state`},
		{"list jobs page too big", &ListJobsRequest{PageSize: 1001},
			`page_size: must be in 1..1000 (or 0 for the default 100), got 1001`},
		{"list concepts", &ListConceptsRequest{ClassNoun: "dog", BaseModelId: "id1"}, ""},
		{"list concepts bad noun", &ListConceptsRequest{ClassNoun: "dog!"}, `class_noun: "dog!" contains '!'`},
		{"list concepts long token", &ListConceptsRequest{PageToken: strings.Repeat("t", 1025)},
			`page_token: must be at most 1024 bytes, got 1025`},
		{"get concept", &GetConceptRequest{Name: "mydog"}, ""},
		{"get concept bad", &GetConceptRequest{Name: "MyDog"}, `name: "MyDog" is not a valid concept name`},
		{"get concept too long", &GetConceptRequest{Name: strings.Repeat("a", MaxNameLen+1)}, `is not a valid concept name`},
		{"download", &DownloadConceptRequest{Name: "mydog", Digest: testDigest}, ""},
		{"download bad digest", &DownloadConceptRequest{Name: "mydog", Digest: "abc"}, `digest: "abc" is not a digest`},
		{"delete concept", &DeleteConceptRequest{Name: "mydog"}, ""},
		{"delete concept bad", &DeleteConceptRequest{Name: "-x"}, `name: "-x" is not a valid concept name`},
		{"import header", &ImportConceptRequest{Payload: &ImportConceptRequest_Header{Header: &ImportConceptHeader{
			Name: "mydog", SizeBytes: 1 << 20, Digest: testDigest}}}, ""},
		{"import header bad name", &ImportConceptRequest{Payload: &ImportConceptRequest_Header{Header: &ImportConceptHeader{
			Name: "a b", SizeBytes: 10}}}, `header.name: "a b" is not a valid concept name`},
		{"import header oversize", &ImportConceptRequest{Payload: &ImportConceptRequest_Header{Header: &ImportConceptHeader{
			Name: "ok", SizeBytes: MaxConceptBytes + 1}}}, `header.size_bytes: must be in 1..67108864, got 67108865`},
		{"import chunk", &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Offset: 100, Data: []byte("abc")}}}, ""},
		{"import empty last chunk", &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Offset: 100, Last: true}}}, ""},
		{"import empty middle chunk", &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Offset: 100}}}, `chunk.data: must not be empty except in the last chunk`},
		{"import negative offset", &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Offset: -1, Data: []byte("a")}}}, `chunk.offset: must not be negative, got -1`},
		{"import big chunk", &ImportConceptRequest{Payload: &ImportConceptRequest_Chunk{Chunk: &DataChunk{
			Data: []byte(big)}}}, `chunk.data: must be at most 2097152 bytes, got 2097153`},
		{"import nothing", &ImportConceptRequest{}, `payload: must be a header or a chunk`},
		{"cluster status", &ClusterStatusRequest{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkValidation(t, tc.req.Validate(), tc.want)
			checkValidation(t, tc.req.ValidateAll(), tc.want)
		})
	}
}

func TestCheckHelpers(t *testing.T) {
	cases := []struct {
		name  string
		check func(string) error
		in    string
		ok    bool
	}{
		{"name simple", CheckConceptName, "mydog", true},
		{"name digits and marks", CheckConceptName, "0dog_v1.2-final", true},
		{"name max length", CheckConceptName, strings.Repeat("a", MaxNameLen), true},
		{"name empty", CheckConceptName, "", false},
		{"name leading dot", CheckConceptName, ".hidden", false},
		{"name slash", CheckConceptName, "a/b", false},
		{"name upper", CheckConceptName, "Dog", false},
		{"name unicode", CheckConceptName, "chien-é", false},
		{"noun unicode", CheckClassNoun, "chien-é", true},
		{"noun apostrophe", CheckClassNoun, "jack-o'-lantern", true},
		{"noun digits only", CheckClassNoun, "42", false},
		{"noun double space", CheckClassNoun, "teddy  bear", false},
		{"noun too long", CheckClassNoun, strings.Repeat("a", MaxClassNounLen+1), false},
		{"token", CheckToken, "<new1>", true},
		{"token tab", CheckToken, "a\tb", false},
		{"digest", CheckDigest, testDigest, true},
		{"digest short", CheckDigest, testDigest[:70], false},
		{"digest other algo", CheckDigest, "md5:" + strings.Repeat("a", 64), false},
		{"id", CheckID, testJob, true},
		{"id 25 chars", CheckID, testJob[:25], false},
		{"id with U", CheckID, "01JDZ8Q3M4N5P6R7S8T9V0W1XU", false},
		{"base model id", CheckBaseModelID, "sha256:0f3e", true},
		{"base model id newline", CheckBaseModelID, "a\nb", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("check(%q) = %v, want ok=%v", tc.in, err, tc.ok)
			}
		})
	}
}
