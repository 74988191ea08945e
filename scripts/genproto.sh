#!/usr/bin/env bash
# genproto.sh regenerates the Go code of the gRPC API (proto/**/*.proto) beside the
# .proto files, with pinned generator versions:
#   protoc              3.21.12  (Debian bookworm: apt-get install protobuf-compiler libprotobuf-dev)
#   protoc-gen-go       google.golang.org/protobuf v1.36.12          (pinned in tools/go.mod)
#   protoc-gen-go-grpc  google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.2 (pinned in tools/go.mod)
# The plugins are built from the tools module into tools/.bin, so the main module's
# dependency graph never sees them.
#
# Usage: scripts/genproto.sh [OUTDIR]
#   OUTDIR defaults to proto/ (regenerate in place); scripts/verify-proto.sh passes a
#   temporary directory to compare against the committed files.
set -euo pipefail

readonly PROTOC_VERSION="3.21.12"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="$root/proto"
out="${1:-$src}"
bin="$root/tools/.bin"

die() { echo "genproto: $*" >&2; exit 1; }

command -v protoc >/dev/null 2>&1 ||
	die "protoc not found; install it with: apt-get install -y protobuf-compiler libprotobuf-dev"
have="$(protoc --version | awk '{print $2}')"
# The protoc version is written into every generated file's header, so any other
# version would make verify-proto fail; refuse early with the reason.
[ "$have" = "$PROTOC_VERSION" ] ||
	die "protoc $have found, $PROTOC_VERSION required (its version is recorded in the generated files); install Debian bookworm's protobuf-compiler"

# The well-known types (google/protobuf/*.proto) come with libprotobuf-dev.
wkt_dir=""
for d in /usr/include /usr/local/include; do
	if [ -f "$d/google/protobuf/timestamp.proto" ]; then wkt_dir="$d"; break; fi
done
[ -n "$wkt_dir" ] ||
	die "google/protobuf/timestamp.proto not found; install it with: apt-get install -y libprotobuf-dev"

mkdir -p "$bin"
# GOWORK=off: the tools module is built on its own, with its own go.sum.
(cd "$root/tools" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" go build -o "$bin/" \
	google.golang.org/protobuf/cmd/protoc-gen-go \
	google.golang.org/grpc/cmd/protoc-gen-go-grpc) ||
	die "building the protoc plugins from tools/go.mod failed"

mapfile -t protos < <(cd "$src" && find . -name '*.proto' -printf '%P\n' | LC_ALL=C sort)
[ "${#protos[@]}" -gt 0 ] || die "no .proto files under $src"

mkdir -p "$out"
# Remove stale generated files first, so a deleted .proto leaves no orphan .pb.go.
find "$out" -name '*.pb.go' -delete

(cd "$src" && protoc \
	--proto_path=. \
	--proto_path="$wkt_dir" \
	--plugin=protoc-gen-go="$bin/protoc-gen-go" \
	--plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	--fatal_warnings \
	"${protos[@]}")

echo "genproto: generated $(find "$out" -name '*.pb.go' | wc -l) files from ${#protos[@]} .proto files into $out"
