#!/usr/bin/env bash
# Build TensorRT plans from the ONNX models of a Triton model repository, on the node (and GPU)
# that will run them, and assemble the repository Triton serves.
#
# Runs as an init container from nvcr.io/nvidia/tensorrt:<yy.mm>-py3, the TensorRT of the
# Triton image of the same release, so a plan built here always deserializes in Triton.
#
#   SOURCE_REPOSITORY  the model repository as built by `tritonctl build` (read only)
#   OUTPUT_REPOSITORY  the repository Triton serves (emptyDir): symlinks to the source models,
#                      and for each built model a config with platform tensorrt_plan
#   ENGINE_CACHE       plan cache: <cache>/<gpu-product>/<tensorrt-version>/<model>/model.plan
#                      reused when its key (ONNX sha256 + trtexec args) matches
#   MODELS_FILE        lines "<model> <trtexec args...>" from values (engineBuild.models)
#   MARKER_FILE        a model dir holding this file is built too; its content: trtexec args
#   TRTEXEC_ARGS       trtexec args for every model (e.g. --fp16)
#
# Exits non-zero when a plan is missing after the build, so Triton never starts without it.
set -euo pipefail

SOURCE_REPOSITORY=${SOURCE_REPOSITORY:?}
OUTPUT_REPOSITORY=${OUTPUT_REPOSITORY:?}
ENGINE_CACHE=${ENGINE_CACHE:?}
MODELS_FILE=${MODELS_FILE:-/dev/null}
MARKER_FILE=${MARKER_FILE:-tensorrt}
TRTEXEC_ARGS=${TRTEXEC_ARGS:-}
TRTEXEC=${TRTEXEC:-trtexec}

log() { printf '[build-engines] %s\n' "$*" >&2; }

gpu_product() {
  local name
  name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n1)
  [ -n "$name" ] || { log "nvidia-smi reports no GPU"; exit 1; }
  # Same spelling as the nvidia.com/gpu.product node label: spaces become dashes.
  printf '%s' "$name" | tr -s ' ' '-' | tr -cd 'A-Za-z0-9._-'
}

tensorrt_version() {
  local v
  v=$(python3 -c 'import tensorrt; print(tensorrt.__version__)' 2>/dev/null || true)
  if [ -z "$v" ]; then
    # "&&&& RUNNING TensorRT.trtexec [TensorRT v100300]": v100300 -> 10.3.0
    v=$("$TRTEXEC" --help 2>&1 | sed -n 's/.*TensorRT v\([0-9]*\).*/\1/p' | head -n1)
  fi
  [ -n "$v" ] || { log "cannot tell the TensorRT version"; exit 1; }
  printf '%s' "$v"
}

latest_version_dir() {  # the highest numeric version directory of a model
  find "$1" -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+' -printf '%f\n' | sort -n | tail -n1
}

GPU=$(gpu_product)
TRT=$(tensorrt_version)
log "GPU product: $GPU, TensorRT: $TRT"

declare -A ARGS=()
# Models listed in values: "<name> <args...>"
while read -r name rest; do
  [ -n "${name:-}" ] || continue
  case "$name" in \#*) continue ;; esac
  ARGS[$name]="$rest"
done < "$MODELS_FILE"
# Models carrying the marker file.
for dir in "$SOURCE_REPOSITORY"/*/; do
  model=$(basename "$dir")
  if [ -f "$dir/$MARKER_FILE" ] && [ -z "${ARGS[$model]+x}" ]; then
    ARGS[$model]="$(tr '\n' ' ' < "$dir/$MARKER_FILE")"
  fi
done

mkdir -p "$OUTPUT_REPOSITORY"
# Every model is served from the source, except those replaced below by a plan.
for dir in "$SOURCE_REPOSITORY"/*/; do
  model=$(basename "$dir")
  [ -f "$dir/config.pbtxt" ] || continue
  rm -rf "${OUTPUT_REPOSITORY:?}/$model"
  ln -s "${dir%/}" "$OUTPUT_REPOSITORY/$model"
done

status=0
for model in "${!ARGS[@]}"; do
  src="$SOURCE_REPOSITORY/$model"
  version=$(latest_version_dir "$src" 2>/dev/null || true)
  onnx="$src/$version/model.onnx"
  if [ -z "$version" ] || [ ! -f "$onnx" ]; then
    log "$model: no <version>/model.onnx under $src"; status=1; continue
  fi
  args="$TRTEXEC_ARGS ${ARGS[$model]}"
  key=$( { sha256sum "$onnx" | cut -d' ' -f1; printf '%s\n' "$args"; } | sha256sum | cut -d' ' -f1)
  cache="$ENGINE_CACHE/$GPU/$TRT/$model"
  plan="$cache/model.plan"
  mkdir -p "$cache"
  (
    # One builder per cache entry, also across pods sharing a PVC.
    flock 9
    if [ -f "$plan" ] && [ "$(cat "$plan.key" 2>/dev/null)" = "$key" ]; then
      log "$model: cached plan $plan matches (key $key)"
    else
      log "$model: building $plan from $onnx with: $args"
      # shellcheck disable=SC2086
      # (set -e does not apply inside a subshell tested with ||: check each step)
      "$TRTEXEC" --onnx="$onnx" --saveEngine="$plan.tmp" --skipInference $args || exit 1
      [ -s "$plan.tmp" ] || exit 1
      mv -f "$plan.tmp" "$plan" || exit 1
      printf '%s\n' "$key" > "$plan.key"
    fi
  ) 9>"$cache/.lock" || { log "$model: trtexec failed"; status=1; continue; }

  # The served model: the source config with the TensorRT platform, and the cached plan.
  out="$OUTPUT_REPOSITORY/$model"
  rm -rf "$out"
  mkdir -p "$out/$version"
  sed -e '/^platform:/d' -e '/^backend:/d' -e '/^default_model_filename:/d' \
      "$src/config.pbtxt" > "$out/config.pbtxt"
  printf 'platform: "tensorrt_plan"\n' >> "$out/config.pbtxt"
  ln -s "$plan" "$out/$version/model.plan"
done

# Triton starts only when every requested plan exists.
for model in "${!ARGS[@]}"; do
  if [ ! -e "$OUTPUT_REPOSITORY/$model/$(latest_version_dir "$SOURCE_REPOSITORY/$model" 2>/dev/null || echo x)/model.plan" ]; then
    log "$model: plan missing"; status=1
  fi
done
[ "$status" -eq 0 ] && log "plans ready in $OUTPUT_REPOSITORY" || log "some plans are missing; Triton will not start"
exit "$status"
