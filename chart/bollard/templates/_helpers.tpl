{{/* Names ------------------------------------------------------------------------------------ */}}

{{- define "bollard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bollard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* A name for a role's objects: FULLNAME-SUFFIX, kept within 63 characters. */}}
{{- define "bollard.componentName" -}}
{{- $full := include "bollard.fullname" .ctx }}
{{- printf "%s-%s" ($full | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix }}
{{- end }}

{{- define "bollard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "bollard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "bollard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "bollard.secretName" -}}
{{- default (include "bollard.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Labels ----------------------------------------------------------------------------------- */}}

{{/* Selector labels of one role. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "bollard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bollard.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Labels of every object; with a component when one is given. */}}
{{- define "bollard.labels" -}}
{{- $ctx := .ctx -}}
helm.sh/chart: {{ include "bollard.chart" $ctx }}
app.kubernetes.io/name: {{ include "bollard.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
app.kubernetes.io/version: {{ include "bollard.imageTag" $ctx | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: bollard
app.kubernetes.io/managed-by: {{ $ctx.Release.Service }}
{{- range $k, $v := $ctx.Values.commonLabels }}
{{- if has $k (list "helm.sh/chart" "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "app.kubernetes.io/version" "app.kubernetes.io/part-of" "app.kubernetes.io/managed-by") }}
{{- fail (printf "commonLabels: %s is set by the chart (selector and standard labels cannot be overridden)" $k) }}
{{- end }}
{{- end }}
{{- with $ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Image ------------------------------------------------------------------------------------ */}}

{{- define "bollard.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "bollard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "bollard.imageTag" .) }}
{{- end }}
{{- end }}

{{/* Config and secret checksums: a change rolls the pods. */}}
{{- define "bollard.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if .Values.secret.existingSecret }}
checksum/secret: {{ printf "existing:%s:%s" .Values.secret.existingSecret (toJson .Values.secret.keys) | sha256sum }}
{{- else }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- end }}

{{/* Pod-level pieces --------------------------------------------------------------------------- */}}

{{- define "bollard.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
fsGroup: {{ .Values.podSecurityContext.fsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "bollard.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.podSecurityContext.runAsUser }}
runAsGroup: {{ .Values.podSecurityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "bollard.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Scheduling of one role: (dict "ctx" $ "role" .Values.api "component" "api"). */}}
{{- define "bollard.scheduling" -}}
{{- $role := .role }}
{{- with $role.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with $role.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with $role.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- if $role.topologySpreadConstraints }}
topologySpreadConstraints:
{{- range $role.topologySpreadConstraints }}
{{- $c := deepCopy . }}
{{- if not (hasKey $c "labelSelector") }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "bollard.selectorLabels" (dict "ctx" $.ctx "component" $.component) | fromYaml)) }}
{{- end }}
  - {{ toYaml $c | nindent 4 | trim }}
{{- end }}
{{- end }}
{{- end }}

{{/* Pod annotations: checksums, then the chart-wide and the role's own ones. */}}
{{- define "bollard.podAnnotations" -}}
{{- include "bollard.checksums" .ctx }}
{{- with .ctx.Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- with .role.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Pod labels: the chart's (selector labels among them) win over podLabels and the role's own
     podLabels (.role, optional); the schema already refuses the chart's keys there. */}}
{{- define "bollard.podLabels" -}}
{{- $chart := include "bollard.labels" (dict "ctx" .ctx "component" .component) | fromYaml }}
{{- $extra := merge (deepCopy (dig "podLabels" dict (.role | default dict))) (deepCopy (.ctx.Values.podLabels | default dict)) }}
{{- range $k, $v := $extra }}
{{- if hasKey $chart $k }}
{{- fail (printf "podLabels: %s is set by the chart (selector and standard labels cannot be overridden)" $k) }}
{{- end }}
{{- end }}
{{- include "bollard.labels" (dict "ctx" .ctx "component" .component) }}
{{- with $extra }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations of an object: its own (.own, a dict) over commonAnnotations; nothing when
     both are empty. */}}
{{- define "bollard.annotations" -}}
{{- $all := merge (deepCopy (.own | default dict)) (deepCopy (.ctx.Values.commonAnnotations | default dict)) }}
{{- with $all }}
annotations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The hook annotations of an object as a dict: (dict "hook" "pre-install,..." "weight" "-10" "delete" "..."). */}}
{{- define "bollard.hookAnnotations" -}}
{{- $out := dict "helm.sh/hook" .hook }}
{{- with .weight }}{{ $_ := set $out "helm.sh/hook-weight" . }}{{ end }}
{{- with .delete }}{{ $_ := set $out "helm.sh/hook-delete-policy" . }}{{ end }}
{{- toJson $out }}
{{- end }}

{{/* Secrets ------------------------------------------------------------------------------------ */}}

{{/*
The secret entries in use: the three required ones, plus MIGRATE_DATABASE_URL and the assistant's key
when they are configured (an inline value, or with existingSecret a key name in secret.keys).
Each: name (values key), var (environment variable), key (inside the Secret).
*/}}
{{- define "bollard.secretItems" -}}
{{- $s := .Values.secret }}
{{- $items := list (dict "name" "databaseUrl" "var" "DATABASE_URL" "key" $s.keys.databaseUrl)
      (dict "name" "secretKey" "var" "SECRET_KEY" "key" $s.keys.secretKey)
      (dict "name" "redisUrl" "var" "REDIS_URL" "key" $s.keys.redisUrl) }}
{{- if or $s.keys.migrateDatabaseUrl (and (not $s.existingSecret) $s.migrateDatabaseUrl) }}
{{- $items = append $items (dict "name" "migrateDatabaseUrl" "var" "MIGRATE_DATABASE_URL" "key" (default "MIGRATE_DATABASE_URL" $s.keys.migrateDatabaseUrl)) }}
{{- end }}
{{- $provider := upper .Values.config.assistant.provider }}
{{- $keyVar := get (dict "GROQ" "GROQ_API_KEY" "OPENROUTER" "OPENROUTER_API_KEY" "OPENAI" "LLM_API_KEY") $provider }}
{{- if and $keyVar (or $s.keys.llmApiKey (and (not $s.existingSecret) $s.llmApiKey)) }}
{{- $items = append $items (dict "name" "llmApiKey" "var" $keyVar "key" (default $keyVar $s.keys.llmApiKey)) }}
{{- end }}
{{- /* The alert webhook's two (alerts.webhook): in the chart's Secret, or with "own" set in a Secret
       of their own (mounted apart: bollard.alertSecretVolume). */}}
{{- $aw := .Values.alerts.webhook }}
{{- if $aw.enabled }}
{{- $items = append $items (dict "name" "alertWebhookUrl" "var" "ALERT_WEBHOOK_URL" "key" $aw.keys.url "own" $aw.existingSecret) }}
{{- $items = append $items (dict "name" "alertWebhookSecret" "var" "ALERT_WEBHOOK_SECRET" "key" $aw.keys.signingSecret "own" $aw.existingSecret) }}
{{- end }}
{{- toJson $items }}
{{- end }}

{{/*
Environment entries that deliver the secrets a role needs: those of .names that are in use.
Call with (dict "ctx" $ "names" (list "databaseUrl" "secretKey" "redisUrl" "llmApiKey")).
*/}}
{{- define "bollard.secretEnv" -}}
{{- $ctx := .ctx -}}
{{- $secret := default (include "bollard.secretName" $ctx) .secretName }}
{{- $names := .names }}
{{- range include "bollard.secretItems" $ctx | fromJsonArray }}
{{- if has .name $names }}
{{- if $ctx.Values.secret.mountAsFiles }}
- name: {{ .var }}_FILE
  value: /var/run/secrets/{{ ternary "bollard-alert" "bollard" (not (empty .own)) }}/{{ .var }}
{{- else }}
- name: {{ .var }}
  valueFrom:
    secretKeyRef:
      name: {{ default $secret .own }}
      key: {{ .key }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
How KEDA reaches Redis (worker.keda), as JSON: address (host:port), databaseIndex, and the Secret
keys of the username and password ("" = none); inline secrets also give the values taken from
secret.redisUrl, which secret.yaml stores under those keys. Empty keys when KEDA is off.
*/}}
{{- define "bollard.kedaRedis" -}}
{{- $w := .Values.worker }}
{{- $s := .Values.secret }}
{{- $k := $w.keda.redis }}
{{- $out := dict "address" $k.address "databaseIndex" 0 "usernameKey" "" "passwordKey" "" "username" "" "password" "" }}
{{- if and $w.enabled $w.keda.enabled }}
{{- if $s.existingSecret }}
{{- if not $k.address }}
{{- fail "worker.keda.redis.address (host:port) is required with secret.existingSecret: the chart cannot read REDIS_URL out of a Secret it does not render" }}
{{- end }}
{{- $_ := set $out "usernameKey" $s.keys.redisUsername }}
{{- $_ = set $out "passwordKey" $s.keys.redisPassword }}
{{- if not (kindIs "invalid" $k.databaseIndex) }}{{ $_ = set $out "databaseIndex" (int $k.databaseIndex) }}{{ end }}
{{- else }}
{{- $u := urlParse $s.redisUrl }}
{{- if not $k.address }}
{{- $host := $u.host }}
{{- if not (regexMatch ":[0-9]+$" $host) }}{{ $host = printf "%s:6379" $host }}{{ end }}
{{- $_ := set $out "address" $host }}
{{- end }}
{{- if not (kindIs "invalid" $k.databaseIndex) }}
{{- $_ := set $out "databaseIndex" (int $k.databaseIndex) }}
{{- else if regexMatch "^/[0-9]+$" $u.path }}
{{- $_ := set $out "databaseIndex" (trimPrefix "/" $u.path | int) }}
{{- end }}
{{- if contains "%" $u.userinfo }}
{{- fail "worker.keda: the username or password in secret.redisUrl is percent-encoded; KEDA needs it verbatim: use secret.existingSecret with secret.keys.redisUsername/redisPassword" }}
{{- end }}
{{- $user := "" }}
{{- $password := "" }}
{{- if contains ":" $u.userinfo }}
{{- $user = regexReplaceAll ":.*$" $u.userinfo "" }}
{{- $password = regexReplaceAll "^[^:]*:" $u.userinfo "" }}
{{- else }}
{{- $user = $u.userinfo }}
{{- end }}
{{- if $user }}
{{- $_ := set $out "username" $user }}
{{- $_ = set $out "usernameKey" (default "REDIS_USERNAME" $s.keys.redisUsername) }}
{{- end }}
{{- if $password }}
{{- $_ := set $out "password" $password }}
{{- $_ = set $out "passwordKey" (default "REDIS_PASSWORD" $s.keys.redisPassword) }}
{{- end }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{- define "bollard.secretVolume" -}}
{{- $ctx := .ctx -}}
{{- $names := .names }}
{{- if $ctx.Values.secret.mountAsFiles }}
- name: secrets
  secret:
    secretName: {{ default (include "bollard.secretName" $ctx) .secretName }}
    defaultMode: 0440
    items:
{{- range include "bollard.secretItems" $ctx | fromJsonArray }}
{{- if and (has .name $names) (empty .own) }}
      - key: {{ .key }}
        path: {{ .var }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/* The inline value of an alert secret item (alertWebhookUrl | alertWebhookSecret). */}}
{{- define "bollard.alertSecretValue" -}}
{{- $aw := .ctx.Values.alerts.webhook }}
{{- ternary $aw.url $aw.signingSecret (eq .name "alertWebhookUrl") }}
{{- end }}

{{/*
alerts.webhook.existingSecret: the alert webhook's own Secret, mounted at /var/run/secrets/bollard-alert
(secret.mountAsFiles) in the pods that post alerts (the worker, the migration Jobs).
*/}}
{{- define "bollard.alertSecretVolume" -}}
{{- $aw := .Values.alerts.webhook }}
{{- if and $aw.enabled $aw.existingSecret .Values.secret.mountAsFiles }}
- name: alert-webhook
  secret:
    secretName: {{ $aw.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $aw.keys.url }}
        path: ALERT_WEBHOOK_URL
      - key: {{ $aw.keys.signingSecret }}
        path: ALERT_WEBHOOK_SECRET
{{- end }}
{{- end }}

{{- define "bollard.alertSecretMount" -}}
{{- $aw := .Values.alerts.webhook }}
{{- if and $aw.enabled $aw.existingSecret .Values.secret.mountAsFiles }}
- name: alert-webhook
  mountPath: /var/run/secrets/bollard-alert
  readOnly: true
{{- end }}
{{- end }}

{{/*
The alert settings of a role that posts alerts: RELEASE_NAME always (it names the release in
alerts), and with alerts.webhook.enabled the URL and signing secret (bollard.secretEnv). .worker:
also ALERT_MIN_INTERVAL_SECONDS; .migrate: also WEBHOOK_ALLOW_PRIVATE (the Jobs have no ConfigMap).
Call with (dict "ctx" $ "worker" true) or (dict "ctx" $ "migrate" true "secretName" $name).
*/}}
{{- define "bollard.alertEnv" -}}
{{- $ctx := .ctx }}
{{- $aw := $ctx.Values.alerts.webhook }}
- name: RELEASE_NAME
  value: {{ $ctx.Release.Name | quote }}
{{- if $aw.enabled }}
{{- if .worker }}
- name: ALERT_MIN_INTERVAL_SECONDS
  value: {{ $aw.minIntervalSeconds | int64 | quote }}
{{- end }}
{{- if .migrate }}
- name: WEBHOOK_ALLOW_PRIVATE
  value: {{ $ctx.Values.config.webhooks.allowPrivate | quote }}
{{- end }}
{{- include "bollard.secretEnv" (dict "ctx" $ctx "names" (list "alertWebhookUrl" "alertWebhookSecret") "secretName" .secretName) }}
{{- end }}
{{- end }}

{{- define "bollard.secretMount" -}}
{{- if .Values.secret.mountAsFiles }}
- name: secrets
  mountPath: /var/run/secrets/bollard
  readOnly: true
{{- end }}
{{- end }}

{{/* The Secret of config.redis.tls.secretName, mounted where REDIS_TLS_*_FILE can point. */}}
{{- define "bollard.redisTlsVolume" -}}
{{- with .Values.config.redis.tls.secretName }}
- name: redis-tls
  secret:
    secretName: {{ . }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "bollard.redisTlsMount" -}}
{{- if .Values.config.redis.tls.secretName }}
- name: redis-tls
  mountPath: /etc/bollard/redis-tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "bollard.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- end }}

{{- define "bollard.tmpMount" -}}
- name: tmp
  mountPath: /tmp
{{- end }}

{{/* Extras of a role (issue 18 item 6) -------------------------------------------------------------- */}}

{{/*
Containers of the user's own (a role's initContainers or sidecars): as given, with the chart's
hardening filling in whatever their securityContext leaves out (the schema refuses loosening it).
Call with (dict "ctx" $ "list" $role.sidecars) and "restartPolicy" "Always" for native sidecars.
*/}}
{{- define "bollard.userContainers" -}}
{{- $hardening := include "bollard.containerSecurityContext" .ctx | fromYaml }}
{{- range .list }}
{{- $c := deepCopy . }}
{{- $_ := set $c "securityContext" (merge (deepCopy (.securityContext | default dict)) (deepCopy $hardening)) }}
{{- if $.restartPolicy }}{{ $_ = set $c "restartPolicy" $.restartPolicy }}{{ end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end }}

{{/*
Checks what the schema checks too, for installs that skip it (--skip-schema-validation): a role's
extraEnv sets no variable the chart sets in that container (.own, plus the ConfigMap's and the
secrets'), nor one twice; its extraVolumeMounts name a volume of the pod; its containers are named
uniquely. (dict "ctx" $ "path" "api" "role" $role "own" (list "API_THREADS" ...) "volumes" (list "tmp")).
*/}}
{{- define "bollard.validateExtras" -}}
{{- $ctx := .ctx }}
{{- $taken := concat .own (keys (include (print $ctx.Template.BasePath "/configmap.yaml") $ctx | fromYaml).data) }}
{{- range include "bollard.secretItems" $ctx | fromJsonArray }}
{{- $taken = concat $taken (list .var (printf "%s_FILE" .var)) }}
{{- end }}
{{- $seen := list }}
{{- range .role.extraEnv }}
{{- if has .name $taken }}
{{- fail (printf "%s.extraEnv: %s is set by the chart; change it through the chart's own value (extraEnv cannot override the chart's settings or secrets)" $.path .name) }}
{{- end }}
{{- if has .name $seen }}
{{- fail (printf "%s.extraEnv: %s is listed twice" $.path .name) }}
{{- end }}
{{- $seen = append $seen .name }}
{{- end }}
{{- $volumes := .volumes }}
{{- range .role.extraVolumes }}
{{- if has .name $volumes }}
{{- fail (printf "%s.extraVolumes: the volume name %s is taken (the chart's or listed twice)" $.path .name) }}
{{- end }}
{{- $volumes = append $volumes .name }}
{{- end }}
{{- range .role.extraVolumeMounts }}
{{- if not (has .name $volumes) }}
{{- fail (printf "%s.extraVolumeMounts: no volume named %s (add it to %s.extraVolumes)" $.path .name $.path) }}
{{- end }}
{{- end }}
{{- $names := list (ternary "migrate" $.path (eq $.path "migrations")) }}
{{- range concat .role.initContainers .role.sidecars }}
{{- if has .name $names }}
{{- fail (printf "%s: the container name %s is used twice (initContainers, sidecars and the chart's own container share one namespace)" $.path .name) }}
{{- end }}
{{- $names = append $names .name }}
{{- end }}
{{- end }}

{{/* Probe timings from a values map. */}}
{{- define "bollard.probeTimings" -}}
{{- pick . "initialDelaySeconds" "periodSeconds" "timeoutSeconds" "failureThreshold" "successThreshold" | toYaml }}
{{- end }}

{{/* Egress rules shared by the NetworkPolicies (only when egress is restricted). */}}
{{- define "bollard.egress" -}}
{{- if .Values.networkPolicy.egress.restrict }}
egress:
  # DNS, wherever the cluster runs it.
  - ports:
      - port: 53
        protocol: UDP
      - port: 53
        protocol: TCP
  {{- with .Values.networkPolicy.egress.rules }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* A Kubernetes quantity (100m, 0.5, 64Mi, 1Gi, 1e9, a number) as a float, for comparisons only.
     The schema has already checked the form. */}}
{{- define "bollard.quantity" -}}
{{- $s := toString . | trimPrefix "+" }}
{{- $num := regexFind "^([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?" $s }}
{{- $mult := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- mulf ($num | float64) (get $mult (trimPrefix $num $s) | default 1.0) }}
{{- end }}

{{/* What `chart values lint` reports as errors and Helm alone would accept (pkg/valueslint/rules.c):
     the same checks, so that an install that skips the linter is refused too. */}}
{{- define "bollard.validateLintRules" -}}
{{- $production := eq .Values.config.environment "production" }}
{{- if eq (int .Values.metrics.port) (int .Values.config.port) }}
{{- fail (printf "metrics.port (%v) must differ from config.port (%v): /metrics has a listener of its own and bollard exits 78 (METRICS_PORT must differ from PORT)" .Values.metrics.port .Values.config.port) }}
{{- end }}
{{- range $path := list "api" "worker" "migrations" "tests" }}
{{- $res := get $.Values $path | dig "resources" dict }}
{{- range $name := list "cpu" "memory" "ephemeral-storage" }}
{{- $req := dig "requests" $name nil $res }}
{{- $lim := dig "limits" $name nil $res }}
{{- if and (not (kindIs "invalid" $req)) (not (kindIs "invalid" $lim)) }}
{{- if gt (include "bollard.quantity" $req | float64) (include "bollard.quantity" $lim | float64) }}
{{- fail (printf "%s.resources.requests.%s (%v) is above %s.resources.limits.%s (%v): Kubernetes rejects the pod" $path $name $req $path $name $lim) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $probe := list "api.startup" "api.liveness" "api.readiness" "worker.startup" "worker.liveness" }}
{{- $parts := splitList "." $probe }}
{{- $p := get $.Values (first $parts) | dig "probes" (last $parts) dict }}
{{- if ge (int (dig "timeoutSeconds" 1 $p)) (int (dig "periodSeconds" 10 $p)) }}
{{- fail (printf "%s.probes.%s: timeoutSeconds (%v) must be below periodSeconds (%v), or a hanging probe runs back to back with the next one" (first $parts) (last $parts) (dig "timeoutSeconds" 1 $p) (dig "periodSeconds" 10 $p)) }}
{{- end }}
{{- end }}
{{- range $role := list "api" "worker" }}
{{- $r := get $.Values $role }}
{{- if or (eq $role "api") $r.enabled }}
{{- $replicas := int $r.replicas }}
{{- if $r.autoscaling.enabled }}{{ $replicas = int $r.autoscaling.minReplicas }}{{ end }}
{{- if dig "keda" "enabled" false $r }}{{ $replicas = int $r.keda.minReplicaCount }}{{ end }}
{{- $pdb := $r.podDisruptionBudget }}
{{- if and $pdb.enabled (gt $replicas 0) (or (not (kindIs "invalid" $pdb.maxUnavailable)) (not (kindIs "invalid" $pdb.minAvailable))) }}
{{- $v := ternary $pdb.maxUnavailable $pdb.minAvailable (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- $n := 0 }}
{{- if kindIs "string" $v }}
{{- $n = div (add (mul $replicas (trimSuffix "%" $v | int)) 99) 100 | int }}
{{- else }}
{{- $n = int $v }}
{{- end }}
{{- $allowed := ternary $n (sub $replicas $n | int) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- if le (int $allowed) 0 }}
{{- fail (printf "%s.podDisruptionBudget allows no eviction with %d %s replica(s), so every node drain hangs: use maxUnavailable 1 (or run more replicas)" $role $replicas $role) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and $production (eq .Values.image.tag "latest") (not .Values.image.digest) }}
{{- fail "image.tag 'latest' in production: rollouts and rollbacks become unpredictable; pin a version or set image.digest" }}
{{- end }}
{{- if and $production (not .Values.secret.existingSecret) (or .Values.secret.databaseUrl .Values.secret.secretKey .Values.secret.redisUrl .Values.secret.llmApiKey .Values.secret.migrateDatabaseUrl) }}
{{- fail "config.environment production needs secret.existingSecret: inline secret values (secret.databaseUrl, secret.secretKey, secret.redisUrl, secret.llmApiKey, secret.migrateDatabaseUrl) end up in plain text in the Helm release history" }}
{{- end }}
{{- $aw := .Values.alerts.webhook }}
{{- $alertSecretElsewhere := or $aw.existingSecret .Values.secret.existingSecret }}
{{- if and $aw.enabled (not $alertSecretElsewhere) (or (not $aw.url) (not $aw.signingSecret)) }}
{{- fail "alerts.webhook.enabled needs alerts.webhook.url and alerts.webhook.signingSecret (or alerts.webhook.existingSecret, a Secret holding them): bollard exits 78 with a URL and no signing secret" }}
{{- end }}
{{- if and $production (not $alertSecretElsewhere) (or $aw.url $aw.signingSecret) }}
{{- fail "config.environment production: alerts.webhook.url and alerts.webhook.signingSecret end up in plain text in the Helm release history; use alerts.webhook.existingSecret (or secret.existingSecret)" }}
{{- end }}
{{- if and (hasPrefix "sqlite:" .Values.secret.databaseUrl) (ne .Values.config.environment "dev") }}
{{- fail "secret.databaseUrl: sqlite: is only allowed with config.environment dev (bollard exits 78 otherwise)" }}
{{- end }}
{{- $rt := .Values.config.redis.tls }}
{{- if and $rt.insecureSkipVerify (ne .Values.config.environment "dev") }}
{{- fail "config.redis.tls.insecureSkipVerify is only allowed with config.environment dev (bollard exits 78 otherwise): set config.redis.tls.caFile instead" }}
{{- end }}
{{- if ne (empty $rt.certFile) (empty $rt.keyFile) }}
{{- fail "config.redis.tls.certFile and keyFile go together: set both or neither (bollard exits 78 otherwise)" }}
{{- end }}
{{- end }}

{{/* Validation of values that the schema cannot express ------------------------------------------ */}}
{{- define "bollard.validate" -}}
{{- include "bollard.validateLintRules" . }}
{{- $api := .Values.api }}
{{- if ge (int $api.shutdown.drainSeconds) (int $api.shutdown.timeoutSeconds) }}
{{- fail (printf "api.shutdown.drainSeconds (%v) must be below api.shutdown.timeoutSeconds (%v)" $api.shutdown.drainSeconds $api.shutdown.timeoutSeconds) }}
{{- end }}
{{- if not (kindIs "invalid" $api.terminationGracePeriodSeconds) }}
{{- if le (int $api.terminationGracePeriodSeconds) (add $api.shutdown.preStopSleepSeconds $api.shutdown.timeoutSeconds | int) }}
{{- fail (printf "api.terminationGracePeriodSeconds (%v) must be above api.shutdown.preStopSleepSeconds + api.shutdown.timeoutSeconds (%v)" $api.terminationGracePeriodSeconds (add $api.shutdown.preStopSleepSeconds $api.shutdown.timeoutSeconds)) }}
{{- end }}
{{- end }}
{{- if not (kindIs "invalid" .Values.worker.terminationGracePeriodSeconds) }}
{{- if le (int .Values.worker.terminationGracePeriodSeconds) (int .Values.worker.shutdown.timeoutSeconds) }}
{{- fail (printf "worker.terminationGracePeriodSeconds (%v) must be above worker.shutdown.timeoutSeconds (%v)" .Values.worker.terminationGracePeriodSeconds .Values.worker.shutdown.timeoutSeconds) }}
{{- end }}
{{- end }}
{{- range $role := list "api" "worker" }}
{{- $pdb := get $.Values $role | dig "podDisruptionBudget" dict }}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail (printf "%s.podDisruptionBudget: set minAvailable or maxUnavailable, not both" $role) }}
{{- end }}
{{- $hpa := get $.Values $role | dig "autoscaling" dict }}
{{- if and $hpa.enabled (gt (int $hpa.minReplicas) (int $hpa.maxReplicas)) }}
{{- fail (printf "%s.autoscaling.minReplicas must not be above maxReplicas" $role) }}
{{- end }}
{{- if and $hpa.enabled (kindIs "invalid" $hpa.targetCPUUtilizationPercentage) (kindIs "invalid" $hpa.targetMemoryUtilizationPercentage) }}
{{- fail (printf "%s.autoscaling: set targetCPUUtilizationPercentage and/or targetMemoryUtilizationPercentage" $role) }}
{{- end }}
{{- end }}
{{- $keda := .Values.worker.keda }}
{{- if and .Values.worker.enabled $keda.enabled }}
{{- if .Values.worker.autoscaling.enabled }}
{{- fail "worker.keda.enabled and worker.autoscaling.enabled are both true: KEDA creates its own HorizontalPodAutoscaler for the worker and two autoscalers would fight over its replicas; turn one off" }}
{{- end }}
{{- if gt (int $keda.minReplicaCount) (int $keda.maxReplicaCount) }}
{{- fail "worker.keda.minReplicaCount must not be above worker.keda.maxReplicaCount" }}
{{- end }}
{{- if and (eq (int $keda.minReplicaCount) 0) (ne $keda.metric "lagCount") }}
{{- fail "worker.keda.minReplicaCount 0 needs worker.keda.metric lagCount: with no worker running no job is ever pending, so pendingEntriesCount never wakes the worker" }}
{{- end }}
{{- end }}
{{- if and .Values.service.externalTrafficPolicy (eq .Values.service.type "ClusterIP") }}
{{- fail "service.externalTrafficPolicy needs service.type NodePort or LoadBalancer (Kubernetes refuses it on a ClusterIP Service)" }}
{{- end }}
{{- if and .Values.service.loadBalancerSourceRanges (ne .Values.service.type "LoadBalancer") }}
{{- fail "service.loadBalancerSourceRanges needs service.type LoadBalancer (other types ignore it and admit every client)" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) }}
{{- fail "ingress.enabled needs ingress.hosts: an Ingress without rules routes nothing (host \"\" matches every host)" }}
{{- end }}
{{- if and .Values.httpRoute.enabled (not .Values.httpRoute.parentRefs) }}
{{- fail "httpRoute.enabled needs httpRoute.parentRefs: an HTTPRoute attached to no Gateway routes nothing" }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.service.nodePort)) (eq .Values.service.type "ClusterIP") }}
{{- fail "service.nodePort needs service.type NodePort or LoadBalancer" }}
{{- end }}
{{- if not .Values.secret.existingSecret }}
{{- $hint := "(or set secret.existingSecret to a Secret you manage)" }}
{{- if not .Values.secret.databaseUrl }}{{ fail (printf "secret.databaseUrl is required %s" $hint) }}{{ end }}
{{- if not .Values.secret.secretKey }}{{ fail (printf "secret.secretKey is required %s" $hint) }}{{ end }}
{{- if lt (len .Values.secret.secretKey) 32 }}{{ fail "secret.secretKey must be at least 32 bytes" }}{{ end }}
{{- if not .Values.secret.redisUrl }}{{ fail (printf "secret.redisUrl is required %s" $hint) }}{{ end }}
{{- end }}
{{- $assistant := .Values.config.assistant }}
{{- $provider := upper $assistant.provider }}
{{- if and (has $provider (list "GROQ" "OPENROUTER")) (not (or .Values.secret.keys.llmApiKey (and (not .Values.secret.existingSecret) .Values.secret.llmApiKey))) }}
{{- fail (printf "config.assistant.provider %s needs its API key: secret.llmApiKey, or with secret.existingSecret the key's name in secret.keys.llmApiKey (bollard exits 78 without it)" $provider) }}
{{- end }}
{{- if and (eq $provider "OPENAI") (not (and $assistant.openai.baseUrl $assistant.openai.model)) }}
{{- fail "config.assistant.provider OPENAI needs config.assistant.openai.baseUrl and .model (bollard exits 78 without them)" }}
{{- end }}
{{- if and .Values.secret.existingSecret (or .Values.secret.llmApiKey .Values.secret.migrateDatabaseUrl) }}
{{- fail "secret.llmApiKey and secret.migrateDatabaseUrl are not used with secret.existingSecret: put them in that Secret and name their keys in secret.keys" }}
{{- end }}
{{- $ttl := .Values.migrations.ttlSecondsAfterFinished }}
{{- if and (eq .Values.migrations.mode "hook") (not (kindIs "invalid" $ttl)) (lt (int $ttl) 300) }}
{{- fail "migrations.ttlSecondsAfterFinished must be at least 300 in hook mode (Helm must see the Job finish before it is deleted)" }}
{{- end }}
{{- $c := .Values.migrations.contract }}
{{- if and $c.enabled (le (int $c.activeDeadlineSeconds) (int $c.waitRolloutSeconds)) }}
{{- fail "migrations.contract.activeDeadlineSeconds must be above migrations.contract.waitRolloutSeconds (the Job waits for the rollout, then migrates)" }}
{{- end }}
{{- $codes := .Values.migrations.permanentFailureExitCodes }}
{{- range $i, $c := $codes }}
{{- if and (gt $i 0) (le (int $c) (int (index $codes (sub $i 1)))) }}
{{- fail "migrations.permanentFailureExitCodes must be unique and in ascending order" }}
{{- end }}
{{- end }}
{{- end }}
