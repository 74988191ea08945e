package latexblendv1

// Limits the validators enforce. They bound what one request may ask of a node; the
// services check model-specific limits (the 77-token window, the UNet's size multiple)
// themselves.
const (
	// MaxPromptBytes bounds prompt, negative prompt, templates and the extract prompt.
	// The text encoders only see 77 tokens anyway.
	MaxPromptBytes = 1024
	// MaxConcepts bounds the concepts of one generation request.
	MaxConcepts = 16
	// MaxSteps bounds the denoising steps of one generation request.
	MaxSteps = 1000
	// MaxGuidanceScale bounds the classifier-free guidance scale.
	MaxGuidanceScale = 100
	// MinSize and MaxSize bound the generated image's width and height in pixels;
	// both must be multiples of SizeMultiple (the VAE's downsampling factor).
	MinSize      = 16
	MaxSize      = 2048
	SizeMultiple = 8
	// MaxImages bounds the images of one generation request.
	MaxImages = 16
	// MaxGuidanceStepsize bounds the blending-guidance latent step.
	MaxGuidanceStepsize = 100
	// MaxRectificationStrength bounds the self-rectification strength c_reg.
	MaxRectificationStrength = 100

	// MaxNameLen bounds a concept name.
	MaxNameLen = 64
	// MaxClassNounLen bounds a class noun in bytes.
	MaxClassNounLen = 64
	// MaxTokenLen bounds a modifier or initializer token in bytes.
	MaxTokenLen = 32
	// MaxBaseModelIDLen bounds a base model identity.
	MaxBaseModelIDLen = 128
	// MaxObjectNameLen bounds an Object Store object name in an ImageRef.
	MaxObjectNameLen = 256
	// MaxCaptionBytes bounds an image caption.
	MaxCaptionBytes = 1024
	// MaxReasonBytes bounds a cancellation reason.
	MaxReasonBytes = 512
	// MaxPageTokenBytes bounds a page token.
	MaxPageTokenBytes = 1024

	// MaxInstanceImages bounds the instance images of one job (the method needs 3-20).
	MaxInstanceImages = 1000
	// MaxRegImages bounds the regularization images of one job (the reference uses 200).
	MaxRegImages = 10000
	// MaxImageBytes bounds one uploaded image.
	MaxImageBytes = 32 << 20
	// MaxTrainSteps bounds a job's optimizer steps.
	MaxTrainSteps = 100000
	// MaxLearningRate bounds a job's learning rate.
	MaxLearningRate = 1.0
	// MaxBatchSize bounds a job's images per worker per step.
	MaxBatchSize = 64
	// MinResolution and MaxResolution bound a job's training resolution, a multiple of
	// SizeMultiple.
	MinResolution = 16
	MaxResolution = 2048
	// MaxWorkers bounds a job's gang size.
	MaxWorkers = 64
	// MaxTemplates bounds a job's template pool.
	MaxTemplates = 64
	// MaxPlaces bounds the places a job's entry holds rows for, place 1 included; it is
	// the concept bank's own bound (blend.MaxPlaces).
	MaxPlaces = 16

	// MaxPageSize bounds the page size of list calls.
	MaxPageSize = 1000
	// MaxConceptBytes bounds an imported entry file.
	MaxConceptBytes = 64 << 20
	// MaxChunkBytes bounds the data of one DataChunk or ImageChunk.
	MaxChunkBytes = 2 << 20
	// ChunkBytes is the chunk size senders use: well under gRPC's default 4 MiB
	// message limit, so large images and entries stream in pieces.
	ChunkBytes = 1 << 20
)

// Defaults applied for zero (or unset) request fields.
const (
	// DefaultSteps is the denoising steps of a generation request.
	DefaultSteps = 50
	// DefaultGuidanceScale is the classifier-free guidance scale (the reference's 6.0).
	DefaultGuidanceScale = 6.0
	// DefaultBlendingStart: blending starts once t < 1000 * 0.9 (the reference's).
	DefaultBlendingStart = 0.9
	// DefaultGuidanceSteps and DefaultGuidanceStepsize are the reference's blending
	// guidance settings.
	DefaultGuidanceSteps    = 20
	DefaultGuidanceStepsize = 1.0
	// DefaultRectificationStart is the reference JSON's rectification_start.
	DefaultRectificationStart = 0.85
	// DefaultRectificationStrength is the reference's c_reg.
	DefaultRectificationStrength = 2.0

	// DefaultModifierToken and DefaultInitToken are the reference's tokens.
	DefaultModifierToken = "<new1>"
	DefaultInitToken     = "ktn"
	// DefaultTrainSteps is the reference's max_train_steps (on 2 GPUs).
	DefaultTrainSteps = 1500
	// DefaultLearningRate is the reference's learning rate before scaling.
	DefaultLearningRate = 1e-5
	// DefaultBatchSize and DefaultWorkers: one image per worker, one worker.
	DefaultBatchSize = 1
	DefaultWorkers   = 1
	// DefaultCheckpointEvery is the checkpoint interval in steps (capped at the job's
	// steps).
	DefaultCheckpointEvery = 100

	// DefaultPageSize is the page size of list calls that ask for 0.
	DefaultPageSize = 100
)

// gRPC metadata keys of the API.
const (
	// MetadataRetryAfterMs is the trailer a Sampler sets with ResourceExhausted: the
	// milliseconds after which a retry on the same node is worth trying (decimal).
	MetadataRetryAfterMs = "retry-after-ms"
	// MetadataAuthorization carries the bearer token: "Bearer <token>".
	MetadataAuthorization = "authorization"
)
