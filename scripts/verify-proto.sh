#!/usr/bin/env bash
# verify-proto.sh fails when the committed generated code (proto/**/*.pb.go) differs
# from what scripts/genproto.sh produces from the committed .proto files, i.e. when
# someone edited a .proto without running `make proto`, or edited generated code by hand.
# It regenerates into a temporary directory and never touches the working tree.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$root/scripts/genproto.sh" "$tmp" >/dev/null

list() { (cd "$1" && find . -name '*.pb.go' -printf '%P\n' | LC_ALL=C sort); }

status=0
if ! diff -u <(list "$root/proto") <(list "$tmp") >"$tmp.files" 2>&1; then
	echo "verify-proto: the set of generated files differs (- committed, + regenerated):" >&2
	sed -n '3,$p' "$tmp.files" | grep '^[-+]' >&2 || true
	status=1
fi
rm -f "$tmp.files"

while IFS= read -r f; do
	[ -f "$root/proto/$f" ] || continue
	if ! diff -u --label "committed proto/$f" --label "regenerated proto/$f" \
		"$root/proto/$f" "$tmp/$f" >&2; then
		status=1
	fi
done < <(list "$tmp")

if [ "$status" -ne 0 ]; then
	echo "verify-proto: FAILED: generated code is out of date; run 'make proto' (scripts/genproto.sh) and commit the result" >&2
	exit 1
fi
echo "verify-proto: ok ($(list "$tmp" | wc -l) generated files match)"
