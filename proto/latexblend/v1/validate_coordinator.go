package latexblendv1

import (
	"fmt"
	"strings"
)

// Every Coordinator request has Validate (the first problem, a *FieldError) and
// ValidateAll (every problem, joined), as go-grpc-middleware's validator expects.

// Validate reports the first problem of the request.
func (r *SubmitConceptJobRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of the request.
func (r *SubmitConceptJobRequest) ValidateAll() error { return r.validate().all() }

func (r *SubmitConceptJobRequest) validate() *fieldErrors {
	f := &fieldErrors{}
	if r.GetSpec() == nil {
		f.add("spec", "must not be empty")
		return f
	}
	r.GetSpec().validate(f, "spec.")
	return f
}

// Validate reports the first problem of the spec, with field paths relative to it.
func (s *ConceptJobSpec) Validate() error {
	f := &fieldErrors{}
	s.validate(f, "")
	return f.first()
}

func (s *ConceptJobSpec) validate(f *fieldErrors, p string) {
	f.check(p+"concept_name", CheckConceptName(s.GetConceptName()))
	nounOK := CheckClassNoun(s.GetClassNoun()) == nil
	f.check(p+"class_noun", CheckClassNoun(s.GetClassNoun()))
	modifier := s.GetModifierToken()
	if modifier != "" {
		f.check(p+"modifier_token", CheckToken(modifier))
		if foldText(modifier) == foldText(s.GetClassNoun()) {
			f.add(p+"modifier_token", "%q must differ from the class noun", modifier)
		}
	} else {
		modifier = DefaultModifierToken
	}
	if s.GetInitToken() != "" {
		f.check(p+"init_token", CheckToken(s.GetInitToken()))
	}

	if err := CheckID(s.GetUploadId()); err != nil {
		f.check(p+"upload_id", err)
	}
	if len(s.GetInstanceImages()) == 0 {
		f.add(p+"instance_images", "at least one image is required")
	}
	if n := len(s.GetInstanceImages()); n > MaxInstanceImages {
		f.add(p+"instance_images", "at most %d images, got %d", MaxInstanceImages, n)
	}
	if n := len(s.GetRegularizationImages()); n > MaxRegImages {
		f.add(p+"regularization_images", "at most %d images, got %d", MaxRegImages, n)
	}
	seen := map[string]string{}
	for _, set := range []struct {
		field string
		refs  []*ImageRef
	}{{"instance_images", s.GetInstanceImages()}, {"regularization_images", s.GetRegularizationImages()}} {
		for i, ref := range set.refs {
			field := fmt.Sprintf("%s%s[%d]", p, set.field, i)
			ref.validate(f, field, s.GetUploadId())
			if prev, dup := seen[ref.GetObject()]; dup && ref.GetObject() != "" {
				f.add(field+".object", "%q is already listed as %s", ref.GetObject(), prev)
			} else {
				seen[ref.GetObject()] = field
			}
		}
	}

	f.intIn(p+"steps", int64(s.GetSteps()), 1, MaxTrainSteps, fmt.Sprintf("the default %d", DefaultTrainSteps))
	if lr := s.GetLearningRate(); lr != 0 && !(lr > 0 && lr <= MaxLearningRate) { // NaN fails too
		f.add(p+"learning_rate", "must be in (0, %g] (or 0 for the default %g), got %g", MaxLearningRate, DefaultLearningRate, lr)
	}
	f.intIn(p+"batch_size", int64(s.GetBatchSize()), 1, MaxBatchSize, fmt.Sprintf("the default %d", DefaultBatchSize))
	if res := s.GetResolution(); res != 0 && (res < MinResolution || res > MaxResolution || res%SizeMultiple != 0) {
		f.add(p+"resolution", "must be a multiple of %d in %d..%d (or 0 for the model's training size), got %d", SizeMultiple, MinResolution, MaxResolution, res)
	}
	f.intIn(p+"workers", int64(s.GetWorkers()), 1, MaxWorkers, fmt.Sprintf("the default %d", DefaultWorkers))
	steps := s.GetSteps()
	if steps <= 0 || steps > MaxTrainSteps {
		steps = DefaultTrainSteps
	}
	if ce := s.GetCheckpointEvery(); ce != 0 && (ce < 1 || ce > steps) {
		f.add(p+"checkpoint_every", "must be in 1..%d (the job's steps; or 0 for the default %d), got %d", steps, DefaultCheckpointEvery, ce)
	}

	if n := len(s.GetTemplates()); n > MaxTemplates {
		f.add(p+"templates", "at most %d templates, got %d", MaxTemplates, n)
	}
	for i, t := range s.GetTemplates() {
		field := fmt.Sprintf("%stemplates[%d]", p, i)
		if c := strings.Count(t, "{}"); c != 1 {
			f.add(field, "%q must contain exactly one \"{}\" (where \"<token> <noun>\" goes), found %d", t, c)
		}
		f.maxBytes(field, t, MaxPromptBytes)
	}
	if ep := s.GetExtractPrompt(); ep != "" {
		f.maxBytes(p+"extract_prompt", ep, MaxPromptBytes)
		want := foldText(modifier + " " + s.GetClassNoun())
		if nounOK && !strings.Contains(foldText(ep), want) {
			f.add(p+"extract_prompt", "%q must contain the modifier token followed by the class noun, %q", ep, modifier+" "+s.GetClassNoun())
		}
	}
	if id := s.GetBaseModelId(); id != "" {
		f.check(p+"base_model_id", CheckBaseModelID(id))
	}
	s.validatePlaces(f, p, nounOK)
}

// validatePlaces checks places and place_fillers: the fillers are the plain objects put
// before the concept, one per place after the first, so they must be class nouns the
// concept's own noun is not among.
func (s *ConceptJobSpec) validatePlaces(f *fieldErrors, p string, nounOK bool) {
	places, fillers := s.GetPlaces(), s.GetPlaceFillers()
	f.intIn(p+"places", int64(places), 1, MaxPlaces, "1, the bank entry alone")
	switch need := int(places) - 1; {
	case need < 1 && len(fillers) > 0:
		f.add(p+"place_fillers", "%d given, but places is %d (fillers are for places 2 and later)", len(fillers), places)
	case need >= 1 && places <= MaxPlaces && len(fillers) != need:
		f.add(p+"place_fillers", "%d places need %d filler nouns (one per place after the first), got %d", places, need, len(fillers))
	}
	for i, noun := range fillers {
		field := fmt.Sprintf("%splace_fillers[%d]", p, i)
		if err := CheckClassNoun(noun); err != nil {
			f.check(field, err)
		} else if nounOK && foldText(noun) == foldText(s.GetClassNoun()) {
			f.add(field, "%q is the concept's own class noun", noun)
		}
	}
}

func (ref *ImageRef) validate(f *fieldErrors, field, uploadID string) {
	if ref == nil {
		f.add(field, "must not be empty")
		return
	}
	obj := ref.GetObject()
	switch {
	case obj == "":
		f.add(field+".object", "must not be empty")
	case len(obj) > MaxObjectNameLen:
		f.add(field+".object", "must be at most %d bytes, got %d", MaxObjectNameLen, len(obj))
	case strings.HasPrefix(obj, "/") || hasDotDot(obj) || strings.ContainsAny(obj, "\x00\\"):
		f.add(field+".object", "%q is not a plain object name (no leading '/', '..' element, '\\' or NUL)", obj)
	case uploadID != "" && !strings.HasPrefix(obj, "uploads/"+uploadID+"/"):
		f.add(field+".object", "%q is not under uploads/%s/ (the job's upload_id)", obj, uploadID)
	}
	f.check(field+".digest", CheckDigest(ref.GetDigest()))
	f.intIn(field+".size_bytes", ref.GetSizeBytes(), 1, MaxImageBytes, "")
	f.maxBytes(field+".caption", ref.GetCaption(), MaxCaptionBytes)
	f.maxBytes(field+".filename", ref.GetFilename(), MaxObjectNameLen)
}

func hasDotDot(name string) bool {
	for _, el := range strings.Split(name, "/") {
		if el == ".." || el == "." {
			return true
		}
	}
	return false
}

// jobIDErrors is the shared check of the calls that name one job.
func jobIDErrors(id string) *fieldErrors {
	f := &fieldErrors{}
	f.check("job_id", CheckID(id))
	return f
}

// Validate reports the first problem of the request.
func (r *GetJobRequest) Validate() error { return jobIDErrors(r.GetJobId()).first() }

// ValidateAll reports every problem of the request.
func (r *GetJobRequest) ValidateAll() error { return jobIDErrors(r.GetJobId()).all() }

// Validate reports the first problem of the request.
func (r *WatchJobRequest) Validate() error { return jobIDErrors(r.GetJobId()).first() }

// ValidateAll reports every problem of the request.
func (r *WatchJobRequest) ValidateAll() error { return jobIDErrors(r.GetJobId()).all() }

// Validate reports the first problem of the request.
func (r *DeleteJobRequest) Validate() error { return jobIDErrors(r.GetJobId()).first() }

// ValidateAll reports every problem of the request.
func (r *DeleteJobRequest) ValidateAll() error { return jobIDErrors(r.GetJobId()).all() }

// Validate reports the first problem of the request.
func (r *CancelJobRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of the request.
func (r *CancelJobRequest) ValidateAll() error { return r.validate().all() }

func (r *CancelJobRequest) validate() *fieldErrors {
	f := jobIDErrors(r.GetJobId())
	f.maxBytes("reason", r.GetReason(), MaxReasonBytes)
	return f
}

// Validate reports the first problem of the request.
func (r *ListJobsRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of the request.
func (r *ListJobsRequest) ValidateAll() error { return r.validate().all() }

func (r *ListJobsRequest) validate() *fieldErrors {
	f := &fieldErrors{}
	for i, st := range r.GetStates() {
		if _, ok := JobState_name[int32(st)]; !ok || st == JobState_JOB_STATE_UNSPECIFIED {
			f.add(fmt.Sprintf("states[%d]", i), "%v is not a job state to filter on", st)
		}
	}
	f.pageSize("page_size", r.GetPageSize())
	f.maxBytes("page_token", r.GetPageToken(), MaxPageTokenBytes)
	return f
}

// Validate reports the first problem of the request.
func (r *ListConceptsRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of the request.
func (r *ListConceptsRequest) ValidateAll() error { return r.validate().all() }

func (r *ListConceptsRequest) validate() *fieldErrors {
	f := &fieldErrors{}
	if n := r.GetClassNoun(); n != "" {
		f.check("class_noun", CheckClassNoun(n))
	}
	if id := r.GetBaseModelId(); id != "" {
		f.check("base_model_id", CheckBaseModelID(id))
	}
	f.pageSize("page_size", r.GetPageSize())
	f.maxBytes("page_token", r.GetPageToken(), MaxPageTokenBytes)
	return f
}

// nameDigestErrors is the shared check of the calls that name one concept and
// optionally its expected digest.
func nameDigestErrors(name, digest string) *fieldErrors {
	f := &fieldErrors{}
	nameDigest(f, "", name, digest)
	return f
}

func nameDigest(f *fieldErrors, p, name, digest string) {
	f.check(p+"name", CheckConceptName(name))
	if digest != "" {
		f.check(p+"digest", CheckDigest(digest))
	}
}

// Validate reports the first problem of the request.
func (r *GetConceptRequest) Validate() error { return nameDigestErrors(r.GetName(), "").first() }

// ValidateAll reports every problem of the request.
func (r *GetConceptRequest) ValidateAll() error { return nameDigestErrors(r.GetName(), "").all() }

// Validate reports the first problem of the request.
func (r *DownloadConceptRequest) Validate() error {
	return nameDigestErrors(r.GetName(), r.GetDigest()).first()
}

// ValidateAll reports every problem of the request.
func (r *DownloadConceptRequest) ValidateAll() error {
	return nameDigestErrors(r.GetName(), r.GetDigest()).all()
}

// Validate reports the first problem of the request.
func (r *DeleteConceptRequest) Validate() error {
	return nameDigestErrors(r.GetName(), r.GetDigest()).first()
}

// ValidateAll reports every problem of the request.
func (r *DeleteConceptRequest) ValidateAll() error {
	return nameDigestErrors(r.GetName(), r.GetDigest()).all()
}

// Validate reports the first problem of one message of an ImportConcept stream (the
// validator interceptor checks each received message on its own; the order header,
// chunks is the server's to check).
func (r *ImportConceptRequest) Validate() error { return r.validate().first() }

// ValidateAll reports every problem of one message of an ImportConcept stream.
func (r *ImportConceptRequest) ValidateAll() error { return r.validate().all() }

func (r *ImportConceptRequest) validate() *fieldErrors {
	switch p := r.GetPayload().(type) {
	case *ImportConceptRequest_Header:
		h := p.Header
		f := &fieldErrors{}
		nameDigest(f, "header.", h.GetName(), h.GetDigest())
		f.intIn("header.size_bytes", h.GetSizeBytes(), 1, MaxConceptBytes, "")
		return f
	case *ImportConceptRequest_Chunk:
		f := &fieldErrors{}
		p.Chunk.validate(f, "chunk")
		return f
	default:
		f := &fieldErrors{}
		f.add("payload", "must be a header or a chunk")
		return f
	}
}

func (c *DataChunk) validate(f *fieldErrors, field string) {
	if c.GetOffset() < 0 {
		f.add(field+".offset", "must not be negative, got %d", c.GetOffset())
	}
	if n := len(c.GetData()); n > MaxChunkBytes {
		f.add(field+".data", "must be at most %d bytes, got %d", MaxChunkBytes, n)
	} else if n == 0 && !c.GetLast() {
		f.add(field+".data", "must not be empty except in the last chunk")
	}
}

// Validate accepts every request: ClusterStatus has no parameters.
func (r *ClusterStatusRequest) Validate() error { return nil }

// ValidateAll accepts every request: ClusterStatus has no parameters.
func (r *ClusterStatusRequest) ValidateAll() error { return nil }
