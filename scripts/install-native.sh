#!/usr/bin/env bash
# Builds the qwensharp command as one native executable (NativeAOT, x86-64-v3 so the AVX2 kernels are compiled in)
# and installs it: PREFIX/lib/qwensharp/ holds the build, PREFIX/bin/qwensharp links to it. No JIT at run time:
# it starts in milliseconds and holds about 30 MiB less memory than the dotnet-tool build (docs/BENCHMARKS.md, Memory).
# Needs the .NET 10 SDK and clang or gcc to build; runs on Linux x64 CPUs with AVX2.
# Usage: scripts/install-native.sh [PREFIX]   (default: ~/.local)
set -euo pipefail
cd "$(dirname "$0")/.."
prefix="${1:-$HOME/.local}"
case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) echo "install-native: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac
if ! command -v clang > /dev/null && ! command -v gcc > /dev/null; then
  echo "install-native: NativeAOT needs clang or gcc to link; install one, or use the dotnet tool (docs/getting-started.md)" >&2
  exit 1
fi
extra=()
[ "$rid" = linux-x64 ] && extra+=(-p:IlcInstructionSet=x86-64-v3)
# Published into a temporary folder first, then moved into place, so a failed build leaves an installed one intact.
mkdir -p "$prefix/lib" "$prefix/bin"
staging="$(mktemp -d "$prefix/lib/.qwensharp-XXXXXX")"
trap 'rm -rf "$staging"' EXIT
dotnet publish src/QwenSharp.Cli -c Release -r "$rid" -p:PublishAot=true "${extra[@]}" -o "$staging"
rm -rf "$prefix/lib/qwensharp.old"
[ -d "$prefix/lib/qwensharp" ] && mv "$prefix/lib/qwensharp" "$prefix/lib/qwensharp.old"
mv "$staging" "$prefix/lib/qwensharp"
rm -rf "$prefix/lib/qwensharp.old"
ln -sfn "../lib/qwensharp/QwenSharp.Cli" "$prefix/bin/qwensharp"
echo "install-native: $prefix/bin/qwensharp -> $prefix/lib/qwensharp/QwenSharp.Cli"
"$prefix/bin/qwensharp" --version
