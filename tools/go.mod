// Module tools pins the protoc plugins that scripts/genproto.sh builds into tools/.bin.
// It is separate from the main module so that generator dependencies never enter the
// main module graph. Change a version here only together with regenerating the code.
module github.com/latexblend/latexblend/tools

go 1.26.0

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
