#!/usr/bin/env bash
# The demo: start the single-process dev cluster, list its members through the same
# client command a user runs, then shut it down. Later issues extend it to onboarding
# concepts and generating a multi-concept image.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/latexblend
export LATEXBLEND_HOME=${LATEXBLEND_HOME:-$PWD/.demo/home}
mkdir -p "$LATEXBLEND_HOME" .demo
log=.demo/dev.log
model_args=()
if [ -d ../shared/golden/tiny-sdxl ]; then
  model_args=(--model ../shared/golden/tiny-sdxl)
fi

echo "== latexblend demo: dev cluster with 2 trainers and 1 sampler"
"$bin" dev --trainers 2 --samplers 1 "${model_args[@]}" >"$log" 2>&1 &
dev=$!
trap 'kill -INT $dev 2>/dev/null || true; wait $dev 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  if grep -q "dev cluster ready" "$log"; then break; fi
  if ! kill -0 $dev 2>/dev/null; then cat "$log"; echo "dev cluster failed to start" >&2; exit 1; fi
  sleep 0.1
done
grep -q "dev cluster ready" "$log" || { cat "$log"; echo "dev cluster not ready after 60s" >&2; exit 1; }
cat "$log"
echo
echo "== latexblend status"
"$bin" status
echo
kill -INT $dev
wait $dev
trap - EXIT
tail -n 2 "$log"
echo "== demo done"
