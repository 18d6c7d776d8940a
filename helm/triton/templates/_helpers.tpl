{{/* vim: set filetype=mustache: */}}

{{/* Chart name, truncated to 63 characters (the DNS label limit). */}}
{{- define "triton.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimAll "-" -}}
{{- end -}}

{{/*
Full name: <release>-<chart>, or the release name alone when it already contains the chart name.
Truncated to 63 characters; objects with a suffix truncate before adding it.
*/}}
{{- define "triton.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimAll "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimAll "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimAll "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<suffix>, kept to 63 characters. Usage: include "triton.suffixed" (list . "headless") */}}
{{- define "triton.suffixed" -}}
{{- $ctx := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $max := sub 62 (len $suffix) | int -}}
{{- printf "%s-%s" (include "triton.fullname" $ctx | trunc $max | trimSuffix "-") $suffix -}}
{{- end -}}

{{/*
A regex for the names the API server gives this release's pods. A Deployment's pod is named from
generateName "<replicaset>-", the ReplicaSet being "<deployment>-<pod-template-hash>"; the API
server cuts generateName to 58 characters before adding 5 random ones, so a long fullname loses
the hash, or part of it, and the dash (PromQL regexes are anchored at both ends).
*/}}
{{- define "triton.podNameRegex" -}}
{{- $prefix := printf "%s-" (include "triton.fullname" .) -}}
{{- if ge (len $prefix) 58 -}}
{{- printf "%s[a-z0-9]{5}" (regexQuoteMeta (trunc 58 $prefix)) -}}
{{- else -}}
{{- printf "%s[a-z0-9]*-?[a-z0-9]{5}" (regexQuoteMeta $prefix) -}}
{{- end -}}
{{- end -}}

{{- define "triton.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable across upgrades, never the chart version. */}}
{{- define "triton.selectorLabels" -}}
app.kubernetes.io/name: {{ include "triton.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" | quote }}
{{- end -}}

{{/*
Selector labels of the `helm test` client: the same instance, another name, so that no selector
of the server (Service, PDB, NetworkPolicy, monitors, HPA) ever counts the test pod.
*/}}
{{- define "triton.testSelectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-test" (include "triton.name" . | trunc 58 | trimSuffix "-") | quote }}
app.kubernetes.io/instance: {{ .Release.Name | trunc 63 | trimSuffix "-" | quote }}
{{- end -}}

{{/* Labels of every object but the selector ones. */}}
{{- define "triton.metaLabels" -}}
helm.sh/chart: {{ include "triton.chart" . | quote }}
app.kubernetes.io/version: {{ include "triton.release" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: triton
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of every server object. */}}
{{- define "triton.labels" -}}
{{ include "triton.selectorLabels" . }}
{{ include "triton.metaLabels" . }}
{{- end -}}

{{/* Labels of the `helm test` objects. */}}
{{- define "triton.testLabels" -}}
{{ include "triton.testSelectorLabels" . }}
{{ include "triton.metaLabels" . }}
app.kubernetes.io/component: test
{{- end -}}

{{/* metadata.annotations from commonAnnotations (and extra ones). Usage: include "triton.annotations" (list . $extra) */}}
{{- define "triton.annotations" -}}
{{- $ctx := index . 0 -}}
{{- $all := merge (deepCopy (index . 1 | default dict)) (deepCopy $ctx.Values.commonAnnotations) -}}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "triton.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "triton.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Whether the metrics port lives on the headless Service: a NodePort or LoadBalancer Service publishes
every port it lists outside the cluster, so there it carries the serving ports only.
*/}}
{{- define "triton.metricsOnHeadless" -}}
{{- if and .Values.metrics.enabled (ne .Values.service.type "ClusterIP") -}}true{{- end -}}
{{- end -}}

{{/* The label of the one Service that carries the metrics port; the ServiceMonitor selects it. */}}
{{- define "triton.metricsServiceLabels" -}}
triton-metrics: "true"
{{- end -}}

{{/*
The Secret holding the key of the restricted Triton APIs (server.restrictedApis): the user's, or
the chart's <fullname>-admin-key. Triton gets the key as $(TRITON_ADMIN_KEY), expanded by the kubelet.
*/}}
{{- define "triton.adminKeySecretName" -}}
{{- default (include "triton.suffixed" (list . "admin-key")) .Values.server.restrictedApis.existingSecret -}}
{{- end -}}

{{/* An env entry with the key of the restricted APIs. Usage: include "triton.adminKeyEnv" (list . "TRITON_ADMIN_KEY") */}}
{{- define "triton.adminKeyEnv" -}}
{{- $ctx := index . 0 -}}
- name: {{ index . 1 | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ include "triton.adminKeySecretName" $ctx | quote }}
      key: {{ $ctx.Values.server.restrictedApis.secretKey | quote }}
{{- end -}}

{{/* The Triton container release (yy.mm): from image.tag when it starts with one, else appVersion. */}}
{{- define "triton.release" -}}
{{- $m := regexFind "^[0-9]{2}\\.[0-9]{2}" (.Values.image.tag | default "") -}}
{{- default .Chart.AppVersion $m -}}
{{- end -}}

{{/* An image reference. Usage: include "triton.imageRef" (dict "image" .Values.x.image "defaultTag" "25.10-py3") */}}
{{- define "triton.imageRef" -}}
{{- $img := .image -}}
{{- $base := printf "%s/%s" $img.registry $img.repository -}}
{{- if $img.digest -}}
{{- printf "%s@%s" $base $img.digest -}}
{{- else -}}
{{- printf "%s:%s" $base (default .defaultTag $img.tag) -}}
{{- end -}}
{{- end -}}

{{- define "triton.image" -}}
{{- include "triton.imageRef" (dict "image" .Values.image "defaultTag" (printf "%s-py3" .Chart.AppVersion)) -}}
{{- end -}}

{{- define "triton.tensorrtImage" -}}
{{- include "triton.imageRef" (dict "image" .Values.engineBuild.image "defaultTag" (printf "%s-py3" (include "triton.release" .))) -}}
{{- end -}}

{{- define "triton.testImage" -}}
{{- include "triton.imageRef" (dict "image" .Values.tests.image "defaultTag" (printf "%s-py3-sdk" (include "triton.release" .))) -}}
{{- end -}}

{{- define "triton.syncImage" -}}
{{- include "triton.imageRef" (dict "image" .Values.modelRepository.sync.image "defaultTag" "latest") -}}
{{- end -}}

{{/* Bytes of a Kubernetes quantity: `<n>` with a binary (Ki..Pi) or decimal (k..P) suffix, or none. */}}
{{- define "triton.quantityBytes" -}}
{{- $q := toString . -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" $q -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "Pi" 1125899906842624 "k" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 "P" 1000000000000000 -}}
{{- $suffix := trimPrefix $num $q -}}
{{- if or (not $num) (not (hasKey $units $suffix)) -}}
{{- fail (printf "%q is not a storage quantity (e.g. 500Mi, 20Gi, 50G)" $q) -}}
{{- end -}}
{{- mulf (float64 $num) (get $units $suffix) | int64 -}}
{{- end -}}

{{/* The value of any Kubernetes quantity as a float (cores for cpu, bytes for memory), for comparisons. */}}
{{- define "triton.quantityValue" -}}
{{- $q := toString . | trimPrefix "+" -}}
{{- $num := regexFind "^([0-9]+(\\.[0-9]*)?|\\.[0-9]+)" $q -}}
{{- $units := dict "" 1.0 "n" 0.000000001 "u" 0.000001 "m" 0.001 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 -}}
{{- mulf (float64 (printf "0%s" $num)) (get $units (trimPrefix $num $q) | default 1.0) -}}
{{- end -}}

{{/* An IPv4 address as an integer, and the size of the block of a prefix length (2^(32-prefix)). */}}
{{- define "triton.ipv4Value" -}}
{{- $addr := 0 -}}
{{- range splitList "." . -}}{{- $addr = add (mul $addr 256) (atoi .) -}}{{- end -}}
{{- $addr -}}
{{- end -}}

{{- define "triton.ipv4BlockSize" -}}
{{- $block := 1 -}}
{{- range until (sub 32 (atoi (toString .)) | int) -}}{{- $block = mul $block 2 -}}{{- end -}}
{{- $block -}}
{{- end -}}

{{/* Whether the pod uses GPUs at all. */}}
{{- define "triton.usesGpu" -}}
{{- if .Values.gpu.enabled -}}true{{- end -}}
{{- end -}}

{{/*
The GPU resources, as a map: nvidia.com/gpu (whole GPUs, or MIG slices under the single strategy,
where the device plugin exposes every slice as nvidia.com/gpu) or nvidia.com/mig-<profile> (mixed).
*/}}
{{- define "triton.gpuResources" -}}
{{- if .Values.gpu.enabled -}}
{{- if and .Values.gpu.mig.profile (eq .Values.gpu.mig.strategy "single") -}}
{{ .Values.gpu.resourceName | quote }}: {{ .Values.gpu.mig.count | int }}
{{- else if .Values.gpu.mig.profile -}}
{{ printf "nvidia.com/mig-%s" (.Values.gpu.mig.profile | replace "+" ".") | quote }}: {{ .Values.gpu.mig.count | int }}
{{- else -}}
{{ .Values.gpu.resourceName | quote }}: {{ .Values.gpu.count | int }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Resources of a container plus the GPU resources. Usage: include "triton.containerResources" (list . .Values.resources) */}}
{{- define "triton.containerResources" -}}
{{- $ctx := index . 0 -}}
{{- $res := deepCopy (index . 1 | default dict) -}}
{{- $gpu := include "triton.gpuResources" $ctx | fromYaml -}}
{{- if $gpu -}}
{{- $_ := set $res "limits" (merge (deepCopy (get $res "limits" | default dict)) $gpu) -}}
{{- $_ := set $res "requests" (merge (deepCopy (get $res "requests" | default dict)) $gpu) -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/*
The Triton container's resources: the resources value, the GPU resources, and for an
object-storage repository an ephemeral-storage request of the download cache's size (the
scheduler places a pod by its requests; an emptyDir's sizeLimit only evicts it once exceeded).
A larger ephemeral-storage request of the user's is kept (a smaller one is refused in _validate.tpl).
*/}}
{{- define "triton.serverResources" -}}
{{- $res := deepCopy (.Values.resources | default dict) -}}
{{- if include "triton.objectStorage" . -}}
{{- $req := deepCopy (get $res "requests" | default dict) -}}
{{- if not (hasKey $req "ephemeral-storage") -}}
{{- $_ := set $req "ephemeral-storage" .Values.modelRepository.cache.sizeLimit -}}
{{- end -}}
{{- $_ := set $res "requests" $req -}}
{{- end -}}
{{- include "triton.containerResources" (list . $res) -}}
{{- end -}}

{{/* The filesystem path where Triton reads a mounted repository. */}}
{{- define "triton.mountedRepository" -}}
{{- has .Values.modelRepository.source (list "pvc" "nfs" "sync") | ternary "true" "" -}}
{{- end -}}

{{/* Whether Triton reads the repository from object storage itself (and downloads it first). */}}
{{- define "triton.objectStorage" -}}
{{- has .Values.modelRepository.source (list "s3" "gcs" "azure") | ternary "true" "" -}}
{{- end -}}

{{/*
Where Triton downloads an object-storage repository before loading it: core's filesystem code
copies each model into a temporary directory under TRITON_<CLOUD>_MOUNT_DIRECTORY (default /tmp).
*/}}
{{- define "triton.modelCacheDir" -}}/var/cache/triton-models{{- end -}}

{{- define "triton.modelCacheEnv" -}}
{{- $name := get (dict "s3" "TRITON_AWS_MOUNT_DIRECTORY" "gcs" "TRITON_GCS_MOUNT_DIRECTORY" "azure" "TRITON_AZURE_MOUNT_DIRECTORY") .Values.modelRepository.source -}}
- name: {{ $name }}
  value: {{ include "triton.modelCacheDir" . | quote }}
{{- end -}}

{{/* --model-repository: a path, or the object-storage URL Triton reads itself. */}}
{{- define "triton.modelRepositoryArg" -}}
{{- $src := .Values.modelRepository.source -}}
{{- if .Values.engineBuild.enabled -}}
/engines/repository
{{- else if include "triton.objectStorage" . -}}
{{- (get .Values.modelRepository $src).url -}}
{{- else -}}
{{- .Values.modelRepository.mountPath -}}
{{- end -}}
{{- end -}}

{{- define "triton.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add .Values.lifecycle.preStopSleepSeconds .Values.server.exitTimeoutSeconds 10 -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds | int64 -}}
{{- end -}}
{{- end -}}

{{/* Pod-level securityContext. */}}
{{- define "triton.podSecurityContext" -}}
runAsNonRoot: {{ .Values.podSecurityContext.runAsNonRoot }}
runAsUser: {{ .Values.podSecurityContext.runAsUser | int64 }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup | int64 }}
fsGroup: {{ .Values.podSecurityContext.fsGroup | int64 }}
seccompProfile:
  type: {{ .Values.podSecurityContext.seccompProfileType | quote }}
{{- end -}}

{{/* Container-level securityContext, shared by every container the chart renders. */}}
{{- define "triton.containerSecurityContext" -}}
runAsNonRoot: {{ .Values.podSecurityContext.runAsNonRoot }}
runAsUser: {{ .Values.podSecurityContext.runAsUser | int64 }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup | int64 }}
readOnlyRootFilesystem: {{ .Values.containerSecurityContext.readOnlyRootFilesystem }}
allowPrivilegeEscalation: {{ .Values.containerSecurityContext.allowPrivilegeEscalation }}
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: {{ .Values.podSecurityContext.seccompProfileType | quote }}
{{- end -}}

{{/*
checkov skips, each with its reason, rendered as pod annotations (checkov.io/skipN).
A skip is only emitted while the condition it explains holds.
*/}}
{{- define "triton.checkovSkips" -}}
{{- $ctx := index . 0 -}}
{{- $resources := index . 1 | default dict -}}
{{- $digest := index . 2 -}}
{{- $skips := list -}}
{{- if not $digest -}}
{{- $skips = append $skips "CKV_K8S_43=Images are pinned by release tag (yy.mm); set the image digest value to pin by digest" -}}
{{- end -}}
{{- $skips = append $skips "CKV_K8S_15=Release tags are immutable on nvcr.io, so IfNotPresent is safe and avoids re-pulling multi-GB images; pullPolicy is a value" -}}
{{- if lt (int $ctx.Values.podSecurityContext.runAsUser) 10000 -}}
{{- $skips = append $skips "CKV_K8S_40=The Triton and SDK images run as their built-in triton-server user, uid 1000 (files in the image belong to it); runAsUser is a value" -}}
{{- end -}}
{{- $req := get $resources "requests" | default dict -}}
{{- $lim := get $resources "limits" | default dict -}}
{{- if not (hasKey $req "cpu") -}}{{- $skips = append $skips "CKV_K8S_10=CPU requests depend on the models served, so they are the user's to set (resources value)" -}}{{- end -}}
{{- if not (hasKey $lim "cpu") -}}{{- $skips = append $skips "CKV_K8S_11=CPU limits throttle inference latency; set one through the resources value if your cluster requires it" -}}{{- end -}}
{{- if not (hasKey $req "memory") -}}{{- $skips = append $skips "CKV_K8S_12=Memory requests depend on the models served, so they are the user's to set (resources value)" -}}{{- end -}}
{{- if not (hasKey $lim "memory") -}}{{- $skips = append $skips "CKV_K8S_13=Memory limits depend on the models served, so they are the user's to set (resources value)" -}}{{- end -}}
{{- range $i, $s := $skips }}
checkov.io/skip{{ add1 $i }}: {{ $s | quote }}
{{- end }}
{{- end -}}

{{/* Prometheus label matchers that select this release's Triton series (set by the monitors' relabelings). */}}
{{- define "triton.promSelector" -}}
namespace="{{ .Release.Namespace }}",app_kubernetes_io_instance="{{ .Release.Name | trunc 63 | trimSuffix "-" }}",app_kubernetes_io_name="{{ include "triton.name" . }}"
{{- end -}}

{{/* Labels a per-pod recording rule keeps. */}}
{{- define "triton.promBy" -}}
namespace, pod, app_kubernetes_io_instance, app_kubernetes_io_name
{{- end -}}

{{/* Seconds of a Prometheus duration (1m30s, 2h, 500ms). */}}
{{- define "triton.durationSeconds" -}}
{{- $units := dict "ms" 0.001 "s" 1 "m" 60 "h" 3600 "d" 86400 "w" 604800 "y" 31536000 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(ms|s|m|h|d|w|y)" (toString .) -1 -}}
{{- $n := regexFind "^[0-9]+" . -}}
{{- $total = addf $total (mulf (float64 $n) (get $units (trimPrefix $n .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
The scrapeTimeout of a monitor: the value, or the smaller of Prometheus's default 10s and the
interval (a timeout longer than the interval makes the Prometheus Operator drop the monitor).
Usage: include "triton.scrapeTimeout" (list . "serviceMonitor")
*/}}
{{- define "triton.scrapeTimeout" -}}
{{- $m := get (index . 0).Values.metrics (index . 1) -}}
{{- if $m.scrapeTimeout -}}
{{- $m.scrapeTimeout -}}
{{- else if lt (include "triton.durationSeconds" $m.interval | float64) 10.0 -}}
{{- $m.interval -}}
{{- else -}}
10s
{{- end -}}
{{- end -}}

{{/* A number of seconds as a short Prometheus duration (120 -> 2m, 90 -> 90s). */}}
{{- define "triton.shortDuration" -}}
{{- $s := int64 . -}}
{{- if and (gt $s 0) (eq (mod $s 3600) 0) -}}{{ div $s 3600 }}h{{- else if and (gt $s 0) (eq (mod $s 60) 0) -}}{{ div $s 60 }}m{{- else -}}{{ $s }}s{{- end -}}
{{- end -}}

{{/*
Recorded series of each autoscaling metric, and the custom-metrics name prometheus-adapter gives
it (k8s/prometheus-adapter). Rate series carry their window in the name (rate1m, rate2m).
Usage: include "triton.recordedSeries" (list . "queueTimePerRequest")
*/}}
{{- define "triton.recordedSeries" -}}
{{- $ctx := index . 0 -}}
{{- $rate := printf "rate%s" $ctx.Values.metrics.rateWindow -}}
{{- $m := dict "queueTimePerRequest" (printf "triton:queue_time_per_request_us:%s" $rate) "queueComputeRatio" (printf "triton:queue_compute_ratio:%s" $rate) "requestSuccess" (printf "triton:request_success:%s" $rate) "gpuUtilization" "triton:gpu_utilization:avg" -}}
{{- get $m (index . 1) -}}
{{- end -}}

{{- define "triton.customMetricName" -}}
{{- $m := dict "queueTimePerRequest" "triton_queue_time_per_request_us" "queueComputeRatio" "triton_queue_compute_ratio" "gpuUtilization" "triton_gpu_utilization" -}}
{{- get $m . -}}
{{- end -}}

{{/* Fleet-wide PromQL of each metric (KEDA queries Prometheus directly). */}}
{{- define "triton.fleetQuery" -}}
{{- $ctx := index . 0 -}}
{{- $metric := index . 1 -}}
{{- $sel := include "triton.promSelector" $ctx -}}
{{- $w := $ctx.Values.metrics.rateWindow -}}
{{- if eq $metric "queueTimePerRequest" -}}
sum(rate(nv_inference_queue_duration_us{ {{- $sel -}} }[{{ $w }}])) / clamp_min(sum(rate(nv_inference_request_success{ {{- $sel -}} }[{{ $w }}])), 0.001)
{{- else if eq $metric "queueComputeRatio" -}}
sum(rate(nv_inference_queue_duration_us{ {{- $sel -}} }[{{ $w }}])) / clamp_min(sum(rate(nv_inference_compute_infer_duration_us{ {{- $sel -}} }[{{ $w }}])), 1)
{{- else -}}
avg(nv_gpu_utilization{ {{- $sel -}} })
{{- end -}}
{{- end -}}


{{/*
The target of the chosen autoscaling metric as a plain decimal string: KEDA's Prometheus trigger
reads `threshold` with strconv.ParseFloat, and the HPA's averageValue takes the same text as a
quantity, which the API server wants above 0. The schema already refuses other forms; the
validation run first here refuses values that bypass it (--skip-schema-validation), whichever
template renders first.
*/}}
{{- define "triton.autoscalingTarget" -}}
{{- include "triton.validate" . -}}
{{- get .Values.autoscaling.targets .Values.autoscaling.metric | toString -}}
{{- end -}}

{{/* The `for:` of TritonModelsNotReady: the value, or the startup budget plus 5 minutes. */}}
{{- define "triton.notReadyFor" -}}
{{- .Values.metrics.prometheusRule.alerts.notReadyFor | default (include "triton.shortDuration" (add .Values.probes.startup.budgetSeconds 300)) -}}
{{- end -}}
