#!/usr/bin/env bash
# Builds the rehearsal cluster's binaries from the pinned wrapper modules in k8s/cluster/gomod/
# (kube-apiserver, kube-controller-manager, kube-scheduler and kubectl; etcd; kwok; helm;
# prometheus-adapter; KEDA's operator and metrics API server) into a
# cache outside the work tree, one folder per module keyed by its go.mod + go.sum + this script,
# so a CI run on the same machine reuses the binaries and a changed pin rebuilds only its module.
# Prints the folder holding a link to every binary (the only line on stdout).
#
#   CLUSTER_BIN_CACHE  the cache (default ~/.cache/tritonctl/cluster-bin)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CLUSTER_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tritonctl/cluster-bin}
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
mkdir -p "$cache"

# module -> packages it builds; the version stamped into the Kubernetes binaries comes from the
# wrapper's own require line, so `kubectl version` and Helm's kubeVersion checks see v1.37.x
# instead of v0.0.0-master.
kube_version=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$here/gomod/kube/go.mod")
kube_minor=$(echo "$kube_version" | cut -d. -f2)
declare -A packages=(
  [kube]="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
  [etcd]="."
  [kwok]="sigs.k8s.io/kwok/cmd/kwok"
  [helm]="helm.sh/helm/v4/cmd/helm"
  [adapter]="sigs.k8s.io/prometheus-adapter/cmd/adapter"
  [keda]="github.com/kedacore/keda/v2/cmd/operator github.com/kedacore/keda/v2/cmd/adapter"
)
# binaries named other than their package's folder (KEDA's `adapter` would take the name of
# prometheus-adapter's in the shared bin folder): one name per package, in order
declare -A names=(
  [keda]="keda-operator keda-adapter"
)
declare -A ldflags=(
  [kube]="-X k8s.io/component-base/version.gitVersion=$kube_version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$kube_minor -X k8s.io/component-base/version.gitTreeState=clean"
  [etcd]=""
  [kwok]=""  # kwok's consts.Version already names its release
  [helm]="-X helm.sh/helm/v4/internal/version.version=$(awk '$1 == "helm.sh/helm/v4" {print $2}' "$here/gomod/helm/go.mod")"
  [adapter]=""
  [keda]="-X github.com/kedacore/keda/v2/version.Version=$(awk '$1 == "github.com/kedacore/keda/v2" {print $2}' "$here/gomod/keda/go.mod")"
)

bin="$cache/bin-$(cat "$here"/gomod/*/go.sum "$0" | sha256sum | cut -c1-12)"
mkdir -p "$bin"
for module in kube etcd kwok helm adapter keda; do
  dir="$here/gomod/$module"
  key=$(cat "$dir"/go.mod "$dir"/go.sum $(find "$dir" -name '*.go' | sort) "$0" | sha256sum | cut -c1-12)
  out="$cache/$module-$key"
  if [ ! -f "$out/.built" ]; then
    echo "building $module ($out); cold, this takes minutes (kube: the longest)" >&2
    start=$(date +%s)
    # a folder of this run's own: two runs at once (a test session starting beside a build) must
    # not write into, or delete, each other's half-built folder
    tmp=$(mktemp -d "$out.tmp.XXXXXX") && chmod 755 "$tmp"
    if [ -n "${names[$module]:-}" ]; then
      read -ra pkgs <<< "${packages[$module]}"
      read -ra outs <<< "${names[$module]}"
      for i in "${!pkgs[@]}"; do
        (cd "$dir" && go build -trimpath -ldflags "-s -w ${ldflags[$module]}" -o "$tmp/${outs[$i]}" "${pkgs[$i]}")
      done
    else
      # shellcheck disable=SC2086  # the package list is word-split on purpose
      (cd "$dir" && go build -trimpath -ldflags "-s -w ${ldflags[$module]}" -o "$tmp/" ${packages[$module]})
    fi
    touch "$tmp/.built"
    # the rename is atomic; when another run finished first, its folder stays and this one goes
    if [ -d "$out" ] && [ ! -f "$out/.built" ]; then rm -rf "$out"; fi  # an older script's half-built folder
    mv -T "$tmp" "$out" 2>/dev/null || rm -rf "$tmp"
    echo "built $module in $(( $(date +%s) - start )) s" >&2
  fi
  for f in "$out"/*; do ln -sfn "$f" "$bin/$(basename "$f")"; done
done
echo "$bin"
