# On the GPU machine, sourced from the repository root in a device call that carries [".gpu"]:
#   source tools/gpu/device-env.sh && "$APP/DecodeBenchmark" --device cuda
# Builds libmamba_native with its CUDA kernels (sm_90, about a minute; kept in /tmp/nb while the machine
# stays warm), unpacks .gpu/apps.tar.xz into $APP and points the apps at the machine's CUDA libtorch and at
# that native build. Build output goes to $OUT/native-build.log when $OUT is set.
APP=/tmp/app
_log="${OUT:-/tmp}/native-build.log"
if ! (cmake -S native -B /tmp/nb -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 &&
      cmake --build /tmp/nb -j"$(nproc)" --target mamba_native) > "$_log" 2>&1; then
  tail -30 "$_log"
  return 1 2>/dev/null || exit 1
fi
rm -rf "$APP" && mkdir -p "$APP" && tar -xJf .gpu/apps.tar.xz -C "$APP"
# The bundle carries the CPU-only build; with $APP on LD_LIBRARY_PATH it would shadow the CUDA one for
# native test programs linked against /tmp/nb, so point it at the CUDA build too.
ln -sf /tmp/nb/libmamba_native.so "$APP/libmamba_native.so"
_torch="$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))')"
export APP LD_LIBRARY_PATH="$APP:$_torch/lib" DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1 \
  MAMBA_NATIVE_LIBRARY=/tmp/nb/libmamba_native.so
unset _log _torch
