{{/*
The rule groups of this release: per-pod recording rules (the series prometheus-adapter serves)
and the alerts. One definition, rendered as a PrometheusRule (Prometheus Operator) and/or as a
rules file in a ConfigMap (plain Prometheus: `rule_files`).
*/}}
{{- define "triton.ruleGroups" -}}
{{- $sel := include "triton.promSelector" . -}}
{{- $by := include "triton.promBy" . -}}
{{- $alerts := .Values.metrics.prometheusRule.alerts -}}
{{- $fullname := include "triton.fullname" . -}}
{{- $w := .Values.metrics.rateWindow -}}
# Per-pod series for autoscaling; prometheus-adapter (k8s/prometheus-adapter) serves them as
# triton_queue_time_per_request_us, triton_queue_compute_ratio and triton_gpu_utilization.
- name: {{ $fullname }}.recording
  rules:
    - record: {{ include "triton.recordedSeries" (list . "queueTimePerRequest") }}
      expr: |
        sum by ({{ $by }}) (rate(nv_inference_queue_duration_us{ {{- $sel -}} }[{{ $w }}]))
        /
        clamp_min(sum by ({{ $by }}) (rate(nv_inference_request_success{ {{- $sel -}} }[{{ $w }}])), 0.001)
    - record: {{ include "triton.recordedSeries" (list . "queueComputeRatio") }}
      expr: |
        sum by ({{ $by }}) (rate(nv_inference_queue_duration_us{ {{- $sel -}} }[{{ $w }}]))
        /
        clamp_min(sum by ({{ $by }}) (rate(nv_inference_compute_infer_duration_us{ {{- $sel -}} }[{{ $w }}])), 1)
    - record: {{ include "triton.recordedSeries" (list . "gpuUtilization") }}
      expr: avg by ({{ $by }}) (nv_gpu_utilization{ {{- $sel -}} })
    - record: {{ include "triton.recordedSeries" (list . "requestSuccess") }}
      expr: sum by ({{ $by }}, model) (rate(nv_inference_request_success{ {{- $sel -}} }[{{ $w }}]))
{{- if $alerts.enabled }}
- name: {{ $fullname }}.alerts
  rules:
    - alert: TritonServerDown
      expr: (sum(up{ {{- $sel -}} }) or vector(0)) == 0
      for: {{ $alerts.for | quote }}
      labels:
        {{- merge (deepCopy ($alerts.labels | default dict)) (dict "severity" "critical") | toYaml | nindent 8 }}
      annotations:
        summary: No Triton pod of release {{ .Release.Name }} in {{ .Release.Namespace }} is being scraped
        description: Prometheus has no reachable metrics endpoint for {{ $fullname }}; every Triton pod is down or unscrapable.
    - alert: TritonModelsNotReady
      expr: sum by (namespace, pod) (kube_pod_status_ready{namespace="{{ .Release.Namespace }}", condition="false", pod=~"{{ include "triton.podNameRegex" . }}"}) > 0
      for: {{ include "triton.notReadyFor" . | quote }}
      labels:
        {{- merge (deepCopy ($alerts.labels | default dict)) (dict "severity" "warning") | toYaml | nindent 8 }}
      annotations:
        summary: "Triton pod {{ "{{" }} $labels.pod {{ "}}" }} has not been ready for {{ (include "triton.notReadyFor" .) }}"
        description: /v2/health/ready is false (strict readiness) - a model failed to load or is still loading. Check `kubectl logs {{ "{{" }} $labels.pod {{ "}}" }}`.
    - alert: TritonQueueTimeHigh
      expr: {{ include "triton.recordedSeries" (list . "queueTimePerRequest") }}{ {{- $sel -}} } > {{ $alerts.queueTimeMicroseconds }}
      for: {{ $alerts.for | quote }}
      labels:
        {{- merge (deepCopy ($alerts.labels | default dict)) (dict "severity" "warning") | toYaml | nindent 8 }}
      annotations:
        summary: "Requests wait more than {{ $alerts.queueTimeMicroseconds }} us in Triton's queue on {{ "{{" }} $labels.pod {{ "}}" }}"
        description: "Queue time per request is {{ "{{" }} $value | humanize {{ "}}" }} us; add replicas (autoscaling.maxReplicas), instances or batching."
    - alert: TritonRequestFailures
      expr: |
        sum by (namespace, model) (rate(nv_inference_request_failure{ {{- $sel -}} }[5m]))
        /
        clamp_min(sum by (namespace, model) (rate(nv_inference_request_success{ {{- $sel -}} }[5m])) + sum by (namespace, model) (rate(nv_inference_request_failure{ {{- $sel -}} }[5m])), 0.001)
        > {{ $alerts.failureRatio }}
      for: {{ $alerts.for | quote }}
      labels:
        {{- merge (deepCopy ($alerts.labels | default dict)) (dict "severity" "warning") | toYaml | nindent 8 }}
      annotations:
        summary: "Failure ratio above {{ $alerts.failureRatio }} for requests to model {{ "{{" }} $labels.model {{ "}}" }}"
        description: "Failed/total ratio is {{ "{{" }} $value | humanizePercentage {{ "}}" }} (nv_inference_request_failure)."
{{- end }}
{{- end -}}
