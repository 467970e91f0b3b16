#!/usr/bin/env bash
# Here (no GPU): publish several apps self-contained into ONE folder, so they share the .NET runtime and
# TorchSharp files, drop the CPU libtorch (the GPU machine brings its own CUDA libtorch) and pack it to
# .gpu/apps.tar.xz (about 30 MB for the tests, a benchmark and two examples; a carried tree must stay
# under 64 MiB). A one-bundle variant of ../shared/gpu/stage.sh, which packs one archive per app.
#   usage: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark ...
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
[ $# -gt 0 ] || { echo "usage: $0 PROJECT..." >&2; exit 2; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for proj in "$@"; do
  dotnet publish "$proj" -c Release -r linux-x64 --self-contained true -p:InvariantGlobalization=true \
    -p:PublishReadyToRun=false -o "$out" -v:q -nologo
done
rm -rf "$out/cpu" "$out"/libtorch*.so "$out"/libc10*.so "$out"/libgomp*.so* "$out"/libnnapi_backend.so \
  "$out"/libbackend_with_compiler.so "$out"/libjitbackend_test.so "$out"/libaoti_custom_ops.so "$out"/libshm.so \
  "$out"/libtorchbind_test.so
mkdir -p .gpu
# In a worktree .git is a file: ask git where its exclude file lives.
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
grep -qx ".gpu/" "$exclude" 2>/dev/null || echo ".gpu/" >> "$exclude"
tar -cf - -C "$out" . | xz -T0 -4 > .gpu/apps.tar.xz
du -h .gpu/apps.tar.xz
