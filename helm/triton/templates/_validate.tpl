{{/*
Render-time validation of value combinations the schema cannot express.
Every message names the value(s) at fault and the fix; all failures are reported at once,
in the style of bitnami's common.errors (a "VALUES VALIDATION" block passed to `fail`).
*/}}
{{- define "triton.validate" -}}
{{- $msgs := list -}}
{{- $v := .Values -}}
{{- $src := $v.modelRepository.source -}}

{{- /* GPU scheduling */ -}}
{{- if and $v.gpu.enabled $v.gpu.mig.profile (gt (int $v.gpu.count) 0) -}}
{{- $msgs = append $msgs (printf "gpu.mig.profile=%s and gpu.count=%d request MIG slices and whole GPUs together; a pod gets one or the other. Set gpu.count=0 to use MIG, or gpu.mig.profile=\"\" to use whole GPUs." $v.gpu.mig.profile (int $v.gpu.count)) -}}
{{- end -}}
{{- if and $v.gpu.enabled (not $v.gpu.mig.profile) (eq (int $v.gpu.count) 0) -}}
{{- $msgs = append $msgs "gpu.enabled=true with gpu.count=0 and no gpu.mig.profile requests no GPU at all. Set gpu.count>=1, set gpu.mig.profile, or set gpu.enabled=false for the CPU-only mode." -}}
{{- end -}}
{{- if and (not $v.gpu.enabled) $v.gpu.mig.profile -}}
{{- $msgs = append $msgs (printf "gpu.mig.profile=%s is set while gpu.enabled=false (CPU-only mode). Set gpu.enabled=true and gpu.count=0 to use MIG, or clear gpu.mig.profile." $v.gpu.mig.profile) -}}
{{- end -}}
{{- if and $v.gpu.enabled $v.gpu.mig.profile (gt (int $v.gpu.mig.count) 1) -}}
{{- $msgs = append $msgs (printf "gpu.mig.count=%d gives one Triton process %d MIG slices, but a CUDA process sees only one MIG device (CUDA enumerates only the first MIG instance it is given), so the other slices would sit idle while reserved. Set gpu.mig.count=1 and run more replicas instead (replicaCount, or autoscaling.maxReplicas)." (int $v.gpu.mig.count) (int $v.gpu.mig.count)) -}}
{{- end -}}
{{- if and $v.gpu.enabled $v.gpu.mig.profile (eq $v.gpu.mig.strategy "single") (not $v.gpu.products) -}}
{{- $msgs = append $msgs (printf "gpu.mig.strategy=single exposes MIG slices as plain nvidia.com/gpu, so only the node label nvidia.com/gpu.product=<product>-MIG-%s tells a node of %s slices from one with whole GPUs or other slices, and the chart builds it from gpu.products, which is empty. Set gpu.products to the GPU model(s) (e.g. [NVIDIA-A100-SXM4-80GB]: nodes labelled NVIDIA-A100-SXM4-80GB-MIG-%s are selected), or use gpu.mig.strategy=mixed if your device plugin runs the mixed strategy." $v.gpu.mig.profile $v.gpu.mig.profile $v.gpu.mig.profile) -}}
{{- end -}}
{{- if and $v.gpu.enabled $v.gpu.products $v.affinity.nodeAffinity -}}
{{- $msgs = append $msgs "gpu.products and affinity.nodeAffinity are both set; the chart builds the node affinity from gpu.products. Put the GPU products in gpu.products and drop affinity.nodeAffinity, or clear gpu.products and write the whole node affinity yourself." -}}
{{- end -}}

{{- /* Model repository */ -}}
{{- if has $src (list "s3" "gcs" "azure" "sync") -}}
{{- if not (get $v.modelRepository $src).url -}}
{{- $examples := dict "s3" "s3://my-bucket/model_repository" "gcs" "gs://my-bucket/model_repository" "azure" "as://myaccount/mycontainer/model_repository" "sync" ":s3,env_auth=true,provider=AWS:my-bucket/model_repository" -}}
{{- $msgs = append $msgs (printf "modelRepository.source=%s needs a URL. Set modelRepository.%s.url (e.g. %s)." $src $src (get $examples $src)) -}}
{{- end -}}
{{- end -}}
{{- if and (include "triton.objectStorage" .) $v.modelRepository.cache.repositorySize -}}
{{- $cache := include "triton.quantityBytes" $v.modelRepository.cache.sizeLimit | int64 -}}
{{- $repo := include "triton.quantityBytes" $v.modelRepository.cache.repositorySize | int64 -}}
{{- if lt $cache $repo -}}
{{- $msgs = append $msgs (printf "modelRepository.cache.sizeLimit=%s is smaller than modelRepository.cache.repositorySize=%s: Triton downloads the whole %s repository into that cache before loading, and the pod would be evicted when it fills. Raise modelRepository.cache.sizeLimit to at least %s." $v.modelRepository.cache.sizeLimit $v.modelRepository.cache.repositorySize $src $v.modelRepository.cache.repositorySize) -}}
{{- end -}}
{{- end -}}
{{- $ephemeral := dig "requests" "ephemeral-storage" "" ($v.resources | default dict) -}}
{{- if and (include "triton.objectStorage" .) $ephemeral -}}
{{- if lt (include "triton.quantityBytes" $ephemeral | int64) (include "triton.quantityBytes" $v.modelRepository.cache.sizeLimit | int64) -}}
{{- $msgs = append $msgs (printf "resources.requests.ephemeral-storage=%s is smaller than modelRepository.cache.sizeLimit=%s: the scheduler could place the pod on a node without the disk for the %s download cache, and the kubelet would evict it when the cache fills. Raise the request to at least %s, or leave it out (the chart then requests the cache size)." (toString $ephemeral) $v.modelRepository.cache.sizeLimit $src $v.modelRepository.cache.sizeLimit) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $src "nfs") (or (not $v.modelRepository.nfs.server) (not $v.modelRepository.nfs.path)) -}}
{{- $msgs = append $msgs "modelRepository.source=nfs needs modelRepository.nfs.server and modelRepository.nfs.path (the export that holds the repository)." -}}
{{- end -}}
{{- if and (eq $src "nfs") (regexMatch "\\.svc(\\.cluster\\.local)?\\.?$" $v.modelRepository.nfs.server) -}}
{{- $msgs = append $msgs (printf "modelRepository.nfs.server=%s is a cluster DNS name, but the kubelet mounts NFS with the node's own resolver, which does not know cluster DNS: the pod would hang in ContainerCreating. Set modelRepository.nfs.server to the NFS Service's ClusterIP (kubectl get svc -o jsonpath='{.spec.clusterIP}') or the server's IP." $v.modelRepository.nfs.server) -}}
{{- end -}}
{{- if eq $src "s3" -}}
{{- if and $v.modelRepository.s3.irsaRoleArn $v.modelRepository.s3.existingSecret -}}
{{- $msgs = append $msgs "modelRepository.s3.irsaRoleArn and modelRepository.s3.existingSecret are both set; choose one credential source. IRSA needs no keys: clear modelRepository.s3.existingSecret." -}}
{{- end -}}
{{- if and $v.modelRepository.s3.irsaRoleArn (not $v.serviceAccount.create) -}}
{{- $msgs = append $msgs "modelRepository.s3.irsaRoleArn annotates the chart's ServiceAccount, but serviceAccount.create=false. Set serviceAccount.create=true, or annotate your own service account with eks.amazonaws.com/role-arn and clear modelRepository.s3.irsaRoleArn." -}}
{{- end -}}
{{- end -}}
{{- if eq $src "gcs" -}}
{{- if and $v.modelRepository.gcs.workloadIdentityServiceAccount $v.modelRepository.gcs.existingSecret -}}
{{- $msgs = append $msgs "modelRepository.gcs.workloadIdentityServiceAccount and modelRepository.gcs.existingSecret are both set; choose one credential source. Workload Identity needs no key: clear modelRepository.gcs.existingSecret." -}}
{{- end -}}
{{- if and $v.modelRepository.gcs.workloadIdentityServiceAccount (not $v.serviceAccount.create) -}}
{{- $msgs = append $msgs "modelRepository.gcs.workloadIdentityServiceAccount annotates the chart's ServiceAccount, but serviceAccount.create=false. Set serviceAccount.create=true, or annotate your own service account with iam.gke.io/gcp-service-account and clear the value." -}}
{{- end -}}
{{- end -}}
{{- if and (eq $src "azure") (not $v.modelRepository.azure.existingSecret) -}}
{{- $msgs = append $msgs "modelRepository.source=azure needs modelRepository.azure.existingSecret: a Secret with keys AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY (create it with kubectl create secret generic; keys never go in values)." -}}
{{- end -}}

{{- /* Extra volumes and mounts: the API server refuses a pod whose volume names or mount paths repeat, or whose mount names no volume */ -}}
{{- $volumes := list "tmp" "shm" -}}
{{- $paths := list "/tmp" "/dev/shm" -}}
{{- if include "triton.mountedRepository" . -}}{{- $volumes = append $volumes "model-repository" -}}{{- $paths = append $paths $v.modelRepository.mountPath -}}{{- end -}}
{{- if include "triton.objectStorage" . -}}{{- $volumes = append $volumes "model-cache" -}}{{- $paths = append $paths (include "triton.modelCacheDir" .) -}}{{- end -}}
{{- if and (eq $src "gcs") $v.modelRepository.gcs.existingSecret -}}{{- $volumes = append $volumes "gcs-credentials" -}}{{- $paths = append $paths "/var/run/secrets/gcs" -}}{{- end -}}
{{- if $v.engineBuild.enabled -}}{{- $volumes = concat $volumes (list "engine-repository" "engine-scripts" "engine-cache") -}}{{- $paths = concat $paths (list "/engines/repository" "/engines/cache") -}}{{- end -}}
{{- range $v.extraVolumes -}}
{{- if has .name $volumes -}}
{{- $msgs = append $msgs (printf "extraVolumes has a second volume named %s (the chart's own volumes are %s). Give every extra volume its own name." .name (join ", " $volumes)) -}}
{{- end -}}
{{- $volumes = append $volumes .name -}}
{{- end -}}
{{- range $v.extraVolumeMounts -}}
{{- if not (has .name $volumes) -}}
{{- $msgs = append $msgs (printf "extraVolumeMounts mounts %s, which is no volume of the pod (%s). Add it to extraVolumes, or fix the name." .name (join ", " $volumes)) -}}
{{- end -}}
{{- if has .mountPath $paths -}}
{{- $msgs = append $msgs (printf "extraVolumeMounts mounts a second volume at %s (the Triton container already mounts %s). Give every mount its own path." .mountPath (join ", " $paths)) -}}
{{- end -}}
{{- $paths = append $paths .mountPath -}}
{{- end -}}

{{- /* Requests above limits, and a rolling update that may neither add nor remove a pod: the API server refuses both */ -}}
{{- range $name, $res := dict "resources" $v.resources "modelRepository.sync.resources" $v.modelRepository.sync.resources "engineBuild.resources" $v.engineBuild.resources -}}
{{- $req := get ($res | default dict) "requests" | default dict -}}
{{- $lim := get ($res | default dict) "limits" | default dict -}}
{{- range $r := list "cpu" "memory" "ephemeral-storage" -}}
{{- if and (hasKey $req $r) (hasKey $lim $r) -}}
{{- if gt (include "triton.quantityValue" (get $req $r) | float64) (include "triton.quantityValue" (get $lim $r) | float64) -}}
{{- $msgs = append $msgs (printf "%s.requests.%s=%v is above %s.limits.%s=%v; the API server refuses a container that requests more than its limit. Raise the limit or lower the request." $name $r (get $req $r) $name $r (get $lim $r)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $strategy := $v.updateStrategy | default dict -}}
{{- if ne (toString (get $strategy "type")) "Recreate" -}}
{{- $ru := get $strategy "rollingUpdate" | default dict -}}
{{- if and (eq (trimSuffix "%" (toString (get $ru "maxSurge" | default 0))) "0") (eq (trimSuffix "%" (toString (get $ru "maxUnavailable" | default 0))) "0") (hasKey $ru "maxUnavailable") (hasKey $ru "maxSurge") -}}
{{- $msgs = append $msgs "updateStrategy.rollingUpdate.maxSurge and maxUnavailable are both 0: a rollout could neither add a pod nor remove one, and the API server refuses it. Set maxUnavailable=1 (the default) or maxSurge=1." -}}
{{- end -}}
{{- end -}}

{{- /* Topology spread: the API server refuses two constraints with the same topologyKey and whenUnsatisfiable */ -}}
{{- $spread := list -}}
{{- if $v.topologySpread.enabled -}}
{{- $spread = append $spread (printf "kubernetes.io/hostname/%s" $v.topologySpread.whenUnsatisfiable) -}}
{{- if $v.topologySpread.zones -}}{{- $spread = append $spread (printf "topology.kubernetes.io/zone/%s" $v.topologySpread.whenUnsatisfiable) -}}{{- end -}}
{{- end -}}
{{- range $v.topologySpreadConstraints -}}
{{- $k := printf "%s/%s" .topologyKey .whenUnsatisfiable -}}
{{- if has $k $spread -}}
{{- $msgs = append $msgs (printf "topologySpreadConstraints repeats topologyKey=%s with whenUnsatisfiable=%s (topologySpread.enabled adds kubernetes.io/hostname, and topology.kubernetes.io/zone with topologySpread.zones, with topologySpread.whenUnsatisfiable); the API server refuses a second constraint on the same pair. Drop it, or set topologySpread.enabled=false and list every constraint yourself." .topologyKey .whenUnsatisfiable) -}}
{{- end -}}
{{- $spread = append $spread $k -}}
{{- end -}}

{{- /* CIDRs: the API server refuses an IPv4 CIDR with bits set beyond its prefix (10.1.2.3/8; write 10.0.0.0/8) */ -}}
{{- $cidrs := dict -}}
{{- range $v.service.loadBalancerSourceRanges -}}{{- $_ := set $cidrs . "service.loadBalancerSourceRanges" -}}{{- end -}}
{{- range $v.networkPolicy.extraIngress -}}{{- range .from -}}{{- with .ipBlock -}}
{{- $_ := set $cidrs .cidr "networkPolicy.extraIngress[].from[].ipBlock.cidr" -}}
{{- $cidr := .cidr -}}
{{- range (get . "except" | default list) -}}
{{- $_ := set $cidrs . "networkPolicy.extraIngress[].from[].ipBlock.except" -}}
{{- /* an except block must lie strictly inside the cidr */ -}}
{{- $inside := false -}}
{{- if regexMatch "^[0-9.]+/[0-9]+$" $cidr -}}
{{- $outer := splitList "/" $cidr -}}
{{- $inner := splitList "/" . -}}
{{- $outerBlock := include "triton.ipv4BlockSize" (last $outer) | int64 -}}
{{- $innerAddr := include "triton.ipv4Value" (first $inner) | int64 -}}
{{- if and (gt (atoi (last $inner)) (atoi (last $outer))) (eq (sub $innerAddr (mod $innerAddr $outerBlock)) (sub (include "triton.ipv4Value" (first $outer) | int64) (mod (include "triton.ipv4Value" (first $outer) | int64) $outerBlock))) -}}
{{- $inside = true -}}
{{- end -}}
{{- end -}}
{{- if not $inside -}}
{{- $msgs = append $msgs (printf "networkPolicy.extraIngress ipBlock except %s is not strictly inside its cidr %s; the API server refuses it. List only smaller blocks of %s under except." . $cidr $cidr) -}}
{{- end -}}
{{- end -}}
{{- end -}}{{- end -}}{{- end -}}
{{- range $cidr, $where := $cidrs -}}
{{- if regexMatch "^[0-9.]+/[0-9]+$" $cidr -}}
{{- $parts := splitList "/" $cidr -}}
{{- $addr := include "triton.ipv4Value" (first $parts) | int64 -}}
{{- $block := include "triton.ipv4BlockSize" (last $parts) | int64 -}}
{{- if ne (mod $addr $block) 0 -}}
{{- $net := sub $addr (mod $addr $block) -}}
{{- $msgs = append $msgs (printf "%s=%s has bits set beyond its /%s prefix, which the API server refuses. Write its network address: %d.%d.%d.%d/%s." $where $cidr (last $parts) (div $net 16777216) (mod (div $net 65536) 256) (mod (div $net 256) 256) (mod $net 256) (last $parts)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Server */ -}}
{{- if and $v.server.loadModels (ne $v.server.modelControlMode "explicit") -}}
{{- $msgs = append $msgs (printf "server.loadModels is only used with server.modelControlMode=explicit (it is %s). Set server.modelControlMode=explicit, or clear server.loadModels." $v.server.modelControlMode) -}}
{{- end -}}
{{- if and (has "health" $v.server.restrictedApis.apis) (or $v.probes.startup.enabled $v.probes.readiness.enabled $v.probes.liveness.enabled) -}}
{{- $msgs = append $msgs "server.restrictedApis.apis lists health, but the kubelet's probes call /v2/health/ready and /v2/health/live without the key (an httpGet probe only sends headers written in the pod spec, which would publish the key), so the pod would never become ready. Remove health from server.restrictedApis.apis, or disable probes.startup, probes.readiness and probes.liveness." -}}
{{- end -}}
{{- if not (kindIs "invalid" $v.terminationGracePeriodSeconds) -}}
{{- $need := add $v.lifecycle.preStopSleepSeconds $v.server.exitTimeoutSeconds -}}
{{- if lt (int $v.terminationGracePeriodSeconds) (int $need) -}}
{{- $msgs = append $msgs (printf "terminationGracePeriodSeconds=%d is shorter than lifecycle.preStopSleepSeconds + server.exitTimeoutSeconds = %d, so in-flight requests would be killed. Raise terminationGracePeriodSeconds to at least %d, or leave it empty to compute it." (int $v.terminationGracePeriodSeconds) (int $need) (int $need)) -}}
{{- end -}}
{{- end -}}
{{- $shm := include "triton.quantityBytes" $v.shm.sizeLimit | int64 -}}
{{- $regions := mul (max 1 (int64 $v.pythonBackend.modelInstances)) (int64 $v.pythonBackend.shmDefaultByteSize) -}}
{{- if gt $regions $shm -}}
{{- $msgs = append $msgs (printf "pythonBackend.modelInstances=%d x pythonBackend.shmDefaultByteSize=%d = %d bytes do not fit in shm.sizeLimit=%s (%d bytes): every Python-backend model instance gets its own region, and the last ones would fail to load. Raise shm.sizeLimit, or lower pythonBackend.shmDefaultByteSize." (int64 $v.pythonBackend.modelInstances) (int64 $v.pythonBackend.shmDefaultByteSize) $regions $v.shm.sizeLimit $shm) -}}
{{- end -}}
{{- if and $v.gpu.enabled (not (and (dig "requests" "cpu" "" $v.resources) (dig "requests" "memory" "" $v.resources))) -}}
{{- $msgs = append $msgs "resources.requests needs cpu and memory for a GPU pod: without them the pod is BestEffort, the first evicted under node pressure, and its memory-backed /dev/shm counts against nothing reserved. Set resources.requests.cpu and resources.requests.memory (the defaults are 1 and 4Gi)." -}}
{{- end -}}
{{- with $v.metrics.prometheusRule.alerts.notReadyFor -}}
{{- if and $v.metrics.prometheusRule.alerts.enabled (le (include "triton.durationSeconds" . | float64) (float64 $v.probes.startup.budgetSeconds)) -}}
{{- $msgs = append $msgs (printf "metrics.prometheusRule.alerts.notReadyFor=%s is not longer than probes.startup.budgetSeconds=%d: TritonModelsNotReady would fire while models are still loading within the budget. Leave it empty (budget + 5m) or set more than %ds." . (int $v.probes.startup.budgetSeconds) (int $v.probes.startup.budgetSeconds)) -}}
{{- end -}}
{{- end -}}

{{- if and .Values.tests.inputs (not .Values.tests.model) -}}
{{- $msgs = append $msgs "tests.inputs is set but tests.model is empty; the inputs belong to one model. Set tests.model." -}}
{{- end -}}

{{- /* Rollouts and drains */ -}}
{{- $replicas := ternary (int $v.autoscaling.minReplicas) (int $v.replicaCount) (and $v.autoscaling.enabled true) -}}
{{- $surge := toString (dig "rollingUpdate" "maxSurge" 0 ($v.updateStrategy | default dict)) -}}
{{- if and (eq (toString (dig "type" "RollingUpdate" ($v.updateStrategy | default dict))) "RollingUpdate") (ne (trimSuffix "%" $surge) "0") (eq $src "pvc") (not $v.modelRepository.pvc.existingClaim) (not (has "ReadOnlyMany" $v.modelRepository.pvc.accessModes)) (not (has "ReadWriteMany" $v.modelRepository.pvc.accessModes)) -}}
{{- $msgs = append $msgs (printf "updateStrategy.rollingUpdate.maxSurge=%s with the chart's %s repository volume: the surge pod needs the volume while the old pod still holds it, and a pod scheduled onto another node cannot attach a ReadWriteOnce volume, so the rollout hangs (and on a full GPU pool the surge pod has no GPU either). Set updateStrategy.rollingUpdate.maxSurge=0 and maxUnavailable=1 (the default), or give the volume modelRepository.pvc.accessModes=[ReadOnlyMany] or [ReadWriteMany]." $surge (join "," $v.modelRepository.pvc.accessModes)) -}}
{{- end -}}
{{- if $v.pdb.enabled -}}
{{- $min := toString $v.pdb.minAvailable -}}
{{- if ne $min "" -}}
{{- $keep := ternary (div (add (mul (atoi (trimSuffix "%" $min)) $replicas) 99) 100) (atoi $min) (hasSuffix "%" $min) | int -}}
{{- if and (gt $replicas 0) (ge $keep $replicas) -}}
{{- $msgs = append $msgs (printf "pdb.minAvailable=%s keeps all %d replica(s) available, so the budget never allows an eviction and every node drain (upgrades, autoscaler scale-down, maintenance) hangs on these pods. Lower pdb.minAvailable below the replica count, or clear it and use pdb.maxUnavailable=1 (the default)." $min $replicas) -}}
{{- end -}}
{{- else if eq (trimSuffix "%" (toString $v.pdb.maxUnavailable)) "0" -}}
{{- $msgs = append $msgs (printf "pdb.maxUnavailable=%s allows no eviction, so every node drain (upgrades, autoscaler scale-down, maintenance) hangs on these pods. Set pdb.maxUnavailable=1 (the default), or disable the budget with pdb.enabled=false." (toString $v.pdb.maxUnavailable)) -}}
{{- end -}}
{{- end -}}

{{- /* Monitoring */ -}}
{{- if and $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled -}}
{{- $msgs = append $msgs "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled are both true, so every pod would be scraped twice. Enable one of them." -}}
{{- end -}}
{{- if and (not $v.metrics.enabled) (or $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled $v.metrics.prometheusRule.enabled $v.metrics.rulesConfigMap.enabled $v.metrics.dashboard.enabled $v.metrics.scrapeAnnotations) -}}
{{- $msgs = append $msgs "metrics.enabled=false turns Triton's metrics port off, but a monitor, rule, dashboard or scrape annotation is enabled under metrics.*. Set metrics.enabled=true." -}}
{{- end -}}

{{- if and $v.metrics.serviceMonitor.enabled (include "triton.metricsOnHeadless" .) (not $v.service.headless.enabled) -}}
{{- $msgs = append $msgs (printf "service.type=%s publishes every port of the main Service outside the cluster, so the metrics port is served by the headless Service instead, and service.headless.enabled=false leaves metrics.serviceMonitor nothing to scrape. Set service.headless.enabled=true, or scrape the pods with metrics.podMonitor.enabled=true instead of metrics.serviceMonitor." $v.service.type) -}}
{{- end -}}
{{- $window := include "triton.durationSeconds" $v.metrics.rateWindow | float64 -}}
{{- range $monitor := list "serviceMonitor" "podMonitor" -}}
{{- $m := get $v.metrics $monitor -}}
{{- if $m.enabled -}}
{{- $need := mulf 4 (include "triton.durationSeconds" $m.interval | float64) -}}
{{- if lt $window $need -}}
{{- $msgs = append $msgs (printf "metrics.rateWindow=%s is shorter than 4 x metrics.%s.interval=%s: a rate over fewer than 4 scrapes has gaps, and the autoscaler flaps. Set metrics.rateWindow to at least %s." $v.metrics.rateWindow $monitor $m.interval (include "triton.shortDuration" $need)) -}}
{{- end -}}
{{- if and $m.scrapeTimeout (gt (include "triton.durationSeconds" $m.scrapeTimeout | float64) (include "triton.durationSeconds" $m.interval | float64)) -}}
{{- $msgs = append $msgs (printf "metrics.%s.scrapeTimeout=%s is longer than metrics.%s.interval=%s: the Prometheus Operator drops a monitor whose scrapeTimeout exceeds its interval, so Triton would not be scraped at all (no metrics, alerts or autoscaling). Set metrics.%s.scrapeTimeout to at most %s, or leave it empty (the smaller of 10s and the interval)." $monitor $m.scrapeTimeout $monitor $m.interval $monitor $m.interval) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Autoscaling */ -}}
{{- if $v.autoscaling.enabled -}}
{{- if not $v.autoscaling.metricsSource -}}
{{- $msgs = append $msgs "autoscaling.enabled=true needs a metrics source, or the HPA never sees a Triton metric. Set autoscaling.metricsSource=prometheus-adapter (install the rules in k8s/prometheus-adapter) or autoscaling.metricsSource=keda (with autoscaling.keda.serverAddress)." -}}
{{- end -}}
{{- if and (eq $v.autoscaling.metricsSource "keda") (not $v.autoscaling.keda.serverAddress) -}}
{{- $msgs = append $msgs "autoscaling.metricsSource=keda needs autoscaling.keda.serverAddress, the Prometheus URL KEDA queries (e.g. http://prometheus-operated.monitoring.svc:9090)." -}}
{{- end -}}
{{- if and (eq $v.autoscaling.metricsSource "prometheus-adapter") (not (or $v.metrics.prometheusRule.enabled $v.metrics.rulesConfigMap.enabled)) -}}
{{- $msgs = append $msgs "autoscaling.metricsSource=prometheus-adapter serves series that Prometheus records from the chart's rules, and no rules are rendered. With the Prometheus Operator set metrics.prometheusRule.enabled=true (a PrometheusRule, a CRD only the Operator serves); with plain Prometheus set metrics.rulesConfigMap.enabled=true and load the ConfigMap's file through rule_files." -}}
{{- end -}}
{{- if and (eq $v.autoscaling.metricsSource "prometheus-adapter") (not (or $v.metrics.serviceMonitor.enabled $v.metrics.podMonitor.enabled $v.metrics.scrapeAnnotations)) -}}
{{- $msgs = append $msgs "autoscaling.metricsSource=prometheus-adapter needs Triton's metrics in Prometheus. Set metrics.serviceMonitor.enabled=true (Prometheus Operator), metrics.podMonitor.enabled=true, or metrics.scrapeAnnotations=true." -}}
{{- end -}}
{{- if not $v.metrics.enabled -}}
{{- $msgs = append $msgs "autoscaling.enabled=true scales on Triton metrics, but metrics.enabled=false. Set metrics.enabled=true." -}}
{{- end -}}
{{- /* The schema lets 0 through so that this message, not a bare "minimum: 1", explains why. */ -}}
{{- if eq (int $v.autoscaling.minReplicas) 0 -}}
{{- if eq $v.autoscaling.metricsSource "keda" -}}
{{- $msgs = append $msgs "autoscaling.minReplicas=0 (scale to zero) is not supported: the chart scales on Triton's own metrics, which only Triton pods export, so with no Triton pod there is no series to query; KEDA's Prometheus trigger would read nothing and never activate, and clients would get connection errors (a Service with no endpoints) that no metric counts. Set autoscaling.minReplicas=1. To scale to zero, put a proxy that holds requests and counts them in front of the Service (e.g. KEDA's HTTP add-on) and scale on its metric instead." -}}
{{- else -}}
{{- $msgs = append $msgs "autoscaling.minReplicas=0 (scale to zero) is not supported: the HPA reads Triton's per-pod metrics, and with no Triton pod there is no pod to average over, so it could never scale back up (HPA minReplicas 0 also needs the alpha HPAScaleToZero feature gate). Set autoscaling.minReplicas=1." -}}
{{- end -}}
{{- end -}}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) -}}
{{- $msgs = append $msgs (printf "autoscaling.minReplicas=%d is greater than autoscaling.maxReplicas=%d. Raise autoscaling.maxReplicas." (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and (eq $v.autoscaling.metric "gpuUtilization") (or (not $v.gpu.enabled) (not $v.metrics.gpuMetrics)) -}}
{{- $msgs = append $msgs "autoscaling.metric=gpuUtilization needs GPU metrics, but gpu.enabled or metrics.gpuMetrics is false. Use autoscaling.metric=queueTimePerRequest, or enable GPUs and metrics.gpuMetrics." -}}
{{- end -}}
{{- $targetExamples := dict "queueTimePerRequest" "50000" "queueComputeRatio" "1" "gpuUtilization" "0.8" -}}
{{- $target := get $v.autoscaling.targets $v.autoscaling.metric | toString -}}
{{- if not (regexMatch "^-?[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?$" $target) -}}
{{- $msgs = append $msgs (printf "autoscaling.targets.%s=%s is not a plain decimal number; KEDA reads its threshold with strconv.ParseFloat and the HPA its averageValue as the same text. Write e.g. 0.5 instead of 500m." $v.autoscaling.metric $target) -}}
{{- else if le (float64 $target) 0.0 -}}
{{- $msgs = append $msgs (printf "autoscaling.targets.%s=%s is not above 0: the API server refuses a HorizontalPodAutoscaler whose target averageValue or value is 0 or less (KEDA builds one from this threshold), so the autoscaler would never be created. Set autoscaling.targets.%s above 0 (e.g. %s)." $v.autoscaling.metric $target $v.autoscaling.metric (get $targetExamples $v.autoscaling.metric)) -}}
{{- end -}}
{{- if eq $v.autoscaling.metricsSource "keda" -}}
{{- $activation := toString $v.autoscaling.keda.activationThreshold -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?([eE][+-]?[0-9]+)?$" $activation) -}}
{{- $msgs = append $msgs (printf "autoscaling.keda.activationThreshold=%s is not a plain decimal number of 0 or more; KEDA reads it with strconv.ParseFloat. Write e.g. 0.5 instead of 500m, or 0 for KEDA's default." $activation) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $v.autoscaling.metric "gpuUtilization") $v.gpu.enabled $v.gpu.mig.profile -}}
{{- $msgs = append $msgs (printf "autoscaling.metric=gpuUtilization reads nv_gpu_utilization, which Triton does not export for MIG devices (gpu.mig.profile=%s; Triton server issue 5324): the HPA would see no metric and KEDA would read 0. Scale on Triton's queue instead: autoscaling.metric=queueTimePerRequest or autoscaling.metric=queueComputeRatio." $v.gpu.mig.profile) -}}
{{- end -}}
{{- end -}}

{{- /* Traffic */ -}}
{{- if and $v.ingress.enabled $v.ingress.canary.enabled (ne $v.ingress.controller "nginx") -}}
{{- $msgs = append $msgs (printf "ingress.canary.enabled=true uses ingress-nginx canary annotations, but ingress.controller=%s. Set ingress.controller=nginx, or split traffic with gateway.canary (Gateway API)." $v.ingress.controller) -}}
{{- end -}}
{{- if and $v.ingress.enabled $v.ingress.grpc.enabled (eq $v.ingress.controller "gce") -}}
{{- $msgs = append $msgs "ingress.controller=gce with ingress.grpc.enabled=true cannot reach Triton's gRPC port: GKE Ingress speaks HTTP/2 to a backend only over TLS (cloud.google.com/app-protocols HTTP2), its controller refuses H2C (cleartext HTTP/2) as an app protocol, and Triton's gRPC port is cleartext, so every gRPC call would fail at the load balancer. Route gRPC through the Gateway API (gateway.enabled=true; the Service's gRPC port declares appProtocol kubernetes.io/h2c), or set ingress.grpc.enabled=false and keep the HTTP Ingress." -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.gateway.parentRefs) -}}
{{- $msgs = append $msgs "gateway.enabled=true needs gateway.parentRefs, the Gateway(s) the routes attach to (e.g. [{name: my-gateway, namespace: gateway-system}])." -}}
{{- end -}}
{{- if and $v.gateway.enabled $v.gateway.canary.enabled -}}
{{- if not $v.gateway.canary.service -}}
{{- $msgs = append $msgs "gateway.canary.enabled=true needs gateway.canary.service, the Service of the other release (e.g. triton-canary)." -}}
{{- else if eq $v.gateway.canary.service (include "triton.fullname" .) -}}
{{- $msgs = append $msgs (printf "gateway.canary.service=%s is this release's own Service. Point it at the other release's Service." $v.gateway.canary.service) -}}
{{- end -}}
{{- end -}}

{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.extraIngress) -}}
{{- if has $v.service.type (list "NodePort" "LoadBalancer") -}}
{{- $msgs = append $msgs (printf "service.type=%s brings clients from outside the cluster (node IPs, or client IPs with externalTrafficPolicy=Local) that the NetworkPolicy drops: it only admits pods of allowed namespaces. Add a rule for them to networkPolicy.extraIngress (e.g. [{from: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: http}, {port: grpc}]}]), or set networkPolicy.enabled=false." $v.service.type) -}}
{{- end -}}
{{- if and $v.ingress.enabled (has $v.ingress.controller (list "alb" "gce")) -}}
{{- $msgs = append $msgs (printf "ingress.controller=%s sends traffic from the cloud load balancer (its own IPs, straight to the pods or through node ports), which the NetworkPolicy drops: it only admits pods of allowed namespaces. Add the load balancer's source ranges to networkPolicy.extraIngress (e.g. [{from: [{ipBlock: {cidr: 10.0.0.0/16}}], ports: [{port: http}, {port: grpc}]}]), or set networkPolicy.enabled=false." $v.ingress.controller) -}}
{{- end -}}
{{- end -}}

{{- /* TensorRT engine builds */ -}}
{{- if $v.engineBuild.enabled -}}
{{- if not $v.gpu.enabled -}}
{{- $msgs = append $msgs "engineBuild.enabled=true builds TensorRT plans on the pod's GPU, but gpu.enabled=false. Enable GPUs, or disable engineBuild." -}}
{{- end -}}
{{- if not (include "triton.mountedRepository" .) -}}
{{- $msgs = append $msgs (printf "engineBuild.enabled=true needs the ONNX models on a filesystem, but modelRepository.source=%s is read by Triton directly. Use modelRepository.source=sync (copies the bucket into the pod), pvc or nfs." $src) -}}
{{- end -}}
{{- end -}}

{{- if $msgs -}}
{{- printf "\nVALUES VALIDATION:%s" (join "\n" (prepend $msgs "") | replace "\n" "\n  triton: ") | fail -}}
{{- end -}}
{{- end -}}
