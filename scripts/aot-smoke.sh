#!/usr/bin/env bash
# Installs the qwensharp CLI built with NativeAOT (scripts/install-native.sh: x86-64-v3, the AVX2 kernels compiled in;
# no JIT, about 30 MiB less resident memory than the JIT build) into a scratch prefix and runs each kind of command
# once on a fixture model. Exits non-zero on the first failure. Needs a C toolchain (clang or gcc) for the native
# link. Usage: scripts/aot-smoke.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -ge 1 ]; then out="$1"; cleanup_out=""; else out="$(mktemp -d)"; cleanup_out="$out"; fi
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$cleanup_out" ] && rm -rf "$cleanup_out"; return 0; }
trap cleanup EXIT
scripts/install-native.sh "$out"
q="$out/bin/qwensharp"
model=tests/fixtures/models/qwen3-tiny
# expect NAME PATTERN COMMAND...: runs the command (stdout and stderr) and fails the script unless PATTERN is found.
expect() {
  local name="$1" pattern="$2"; shift 2
  local text
  text="$("$@" 2>&1)" || { echo "aot-smoke: $name FAILED (exit $?):"; echo "$text" | tail -5; exit 1; }
  grep -q -- "$pattern" <<< "$text" || { echo "aot-smoke: $name FAILED (no '$pattern' in the output):"; echo "$text" | tail -5; exit 1; }
  echo "aot-smoke: $name ok"
}
expect "info --json" '"architecture":"qwen3"' "$q" info --model "$model" --json
expect "tokenize" '^\[' "$q" tokenize --model "$model" --text "Hello world"
expect "generate" "finish: length" "$q" generate --model "$model" --prompt "Hello" --max-tokens 4 --seed 1
expect "recommend --json" '"recommendations"' "$q" recommend --memory 8GB --json
mkdir -p "$out/empty-cache"
expect "list --json" '"models": \[\]' "$q" list --cache-dir "$out/empty-cache" --json
expect "bench --json" '"peak_rss_bytes"' "$q" bench --model "$model" --prompt 8 --gen 4 --runs 1 --json
port=$((20000 + RANDOM % 20000))
"$q" serve --model "$model" --port "$port" > "$out/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 80); do curl -sf "localhost:$port/ready" > /dev/null && break; sleep 0.25; done
expect "serve chat" '"finish_reason":"length"' curl -sf "localhost:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"seed":1}'
expect "serve stream" 'data: \[DONE\]' curl -sfN "localhost:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"messages":[{"role":"user","content":"hi"}],"max_tokens":3,"stream":true}'
expect "serve models" '"object":"list"' curl -sf "localhost:$port/v1/models"
echo "aot-smoke: all passed"
