package latexblendv1

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedCodeIsCurrent runs scripts/verify-proto.sh, which regenerates the Go code
// from the .proto files with the pinned generators into a temporary directory and fails
// with a diff when the committed *.pb.go files differ. It needs protoc (Debian's
// protobuf-compiler and libprotobuf-dev) and builds the plugins from tools/go.mod, so it
// is skipped with -short and where protoc is not installed.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: regenerating builds the protoc plugins")
	}
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (apt-get install protobuf-compiler libprotobuf-dev); run scripts/verify-proto.sh where it is")
	}
	script, err := filepath.Abs(filepath.Join("..", "..", "..", "scripts", "verify-proto.sh"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("bash", script).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	t.Logf("%s", out)
}
