#!/usr/bin/env python3
"""Generates chart/bollard/values.schema.json (run `make chart-schema`; a test fails when the
committed schema differs from this program's output).

Conventions: every object is closed (additionalProperties: false) except `global`; a key whose
default is null is optional (Helm drops nulls when it merges values), every other key is required
so that `--set key=null` cannot remove what a template needs; a property documented as an
environment variable starts its description with the variable's name (tests compare bounds and
defaults with pkg/config/config.c). Only keywords that mean the same in draft-07 and 2020-12 are
used: no $ref with siblings, no if/then, no dependencies/dependentRequired, no $defs.
"""
import json, collections
O = collections.OrderedDict

def obj(props, required=None, desc=None, **kw):
    d = O()
    d["type"] = "object"
    if desc: d["description"] = desc
    d["additionalProperties"] = False
    d["properties"] = O(props)
    def nullable(v):
        t = v.get("type") if isinstance(v, dict) else None
        return isinstance(t, list) and "null" in t
    # Helm drops null values when it merges, so a key whose default is null cannot be required.
    req = [k for k, v in props.items() if not nullable(v)] if required is None else required
    if req: d["required"] = req
    d.update(kw)
    return d

def ref(name): return {"$ref": "#/definitions/" + name}
def integer(lo=None, hi=None, desc=None, null=False):
    d = O()
    d["type"] = ["integer", "null"] if null else "integer"
    if desc: d["description"] = desc
    if lo is not None: d["minimum"] = lo
    if hi is not None: d["maximum"] = hi
    return d
def string(desc=None, pattern=None, enum=None, minLength=None, maxLength=None):
    d = O(); d["type"] = "string"
    if desc: d["description"] = desc
    if pattern: d["pattern"] = pattern
    if enum: d["enum"] = enum
    if minLength is not None: d["minLength"] = minLength
    if maxLength is not None: d["maxLength"] = maxLength
    return d
def boolean(desc=None):
    d = O(); d["type"] = "boolean"
    if desc: d["description"] = desc
    return d

DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
MANAGED_ENV = ["ENVIRONMENT", "LOG_LEVEL", "PORT", "ACCESS_LOG", "FRONTEND_URL", "JWT_EXPIRATION_DAYS",
  "MAX_BODY_BYTES", "DB_POOL_SIZE", "DB_QUEUE_MAX", "DB_CONNECT_TIMEOUT_MS", "DB_QUERY_TIMEOUT_MS", "DB_PREPARED_STATEMENTS",
  "REDIS_TIMEOUT_MS", "REDIS_TLS_CA_FILE", "REDIS_TLS_CERT_FILE", "REDIS_TLS_KEY_FILE",
  "REDIS_TLS_INSECURE_SKIP_VERIFY", "HEALTH_CHECK_TIMEOUT_MS", "HEALTH_CACHE_MS", "WEBHOOK_MAX_ATTEMPTS",
  "WEBHOOK_TIMEOUT_MS", "WEBHOOK_ALLOW_PRIVATE", "WORKER_VISIBILITY_TIMEOUT_SECONDS",
  "WORKER_HEARTBEAT_FILE", "MIGRATE_CONNECT_TIMEOUT_SECONDS", "MIGRATE_LOCK_TIMEOUT_SECONDS",
  "MIGRATE_STATEMENT_TIMEOUT_SECONDS", "API_THREADS", "SHUTDOWN_DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS",
  "WORKER_CONCURRENCY", "POD_NAME", "TRUSTED_PROXIES", "PASSWORD_HASH_THREADS",
  "DATABASE_URL", "DATABASE_URL_FILE", "SECRET_KEY", "SECRET_KEY_FILE", "BETTER_AUTH_SECRET",
  "BETTER_AUTH_SECRET_FILE", "REDIS_URL", "REDIS_URL_FILE", "SIGNUP_LIMIT_PER_HOUR", "JWT_ALGORITHM",
  "CONSOLE_ENABLED", "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS", "LLM_PROVIDER", "AGENT_NAME", "AGENT_INSTRUCTIONS",
  "MAX_TOKENS", "TEMPERATURE", "LLM_TIMEOUT_MS", "CHAT_MAX_TOOL_ROUNDS", "CHAT_HISTORY_MESSAGES", "CHAT_MAX_INFLIGHT",
  "GROQ_BASE_URL", "GROQ_MODEL", "OPENROUTER_BASE_URL", "OPENROUTER_MODEL", "OPENROUTER_REFERER", "OPENROUTER_TITLE",
  "LLM_BASE_URL", "LLM_MODEL", "GROQ_API_KEY", "GROQ_API_KEY_FILE", "OPENROUTER_API_KEY", "OPENROUTER_API_KEY_FILE",
  "LLM_API_KEY", "LLM_API_KEY_FILE", "MIGRATE_DATABASE_URL", "MIGRATE_DATABASE_URL_FILE",
  "ALERT_WEBHOOK_URL", "ALERT_WEBHOOK_URL_FILE", "ALERT_WEBHOOK_SECRET", "ALERT_WEBHOOK_SECRET_FILE",
  "ALERT_MIN_INTERVAL_SECONDS", "RELEASE_NAME"]

defs = O()
defs["quantity"] = O([("description", "A Kubernetes quantity, e.g. 100m, 0.5, 1, 64Mi, 1Gi"),
  ("type", ["string", "number"]), ("minimum", 0),
  ("pattern", r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")])
rl = obj(O([("cpu", ref("quantity")), ("memory", ref("quantity")), ("ephemeral-storage", ref("quantity"))]), required=[])
defs["resourceList"] = rl
defs["resources"] = obj(O([("requests", ref("resourceList")), ("limits", ref("resourceList"))]), required=[],
  desc="Container resources (requests and limits of cpu, memory, ephemeral-storage)")
defs["stringMap"] = O([("type", "object"), ("additionalProperties", {"type": "string"})])
defs["labels"] = O([("type", "object"),
  ("propertyNames", {"pattern": r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"}),
  ("additionalProperties", {"type": "string", "maxLength": 63, "pattern": r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"})])
defs["annotations"] = O([("type", "object"), ("additionalProperties", {"type": "string"})])
defs["labelSelector"] = obj(O([("matchLabels", ref("stringMap")),
  ("matchExpressions", O([("type", "array"), ("items", obj(O([("key", string(minLength=1)),
     ("operator", string(enum=["In", "NotIn", "Exists", "DoesNotExist"])),
     ("values", {"type": "array", "items": {"type": "string"}})]), required=["key", "operator"]))]))]), required=[])
defs["probeTimings"] = obj(O([("initialDelaySeconds", integer(0)), ("periodSeconds", integer(1)),
  ("timeoutSeconds", integer(1)), ("failureThreshold", integer(1)),
  ("successThreshold", integer(1, 1, "liveness and startup probes: Kubernetes only accepts 1"))]),
  required=["periodSeconds", "timeoutSeconds", "failureThreshold"])
defs["readinessTimings"] = obj(O([("initialDelaySeconds", integer(0)), ("periodSeconds", integer(1)),
  ("timeoutSeconds", integer(1)), ("failureThreshold", integer(1)), ("successThreshold", integer(1))]),
  required=["periodSeconds", "timeoutSeconds", "failureThreshold"])
defs["nodeSelector"] = ref("stringMap")
defs["tolerations"] = O([("type", "array"), ("items", obj(O([
  ("key", string()), ("operator", string(enum=["Exists", "Equal"])), ("value", string()),
  ("effect", string(enum=["", "NoSchedule", "PreferNoSchedule", "NoExecute"])),
  ("tolerationSeconds", integer(null=True))]), required=[]))])
defs["affinity"] = obj(O([("nodeAffinity", {"type": "object"}), ("podAffinity", {"type": "object"}),
  ("podAntiAffinity", {"type": "object"})]), required=[])
defs["topologySpreadConstraints"] = O([("type", "array"), ("items", obj(O([
  ("maxSkew", integer(1)), ("topologyKey", string(minLength=1)),
  ("whenUnsatisfiable", string(enum=["DoNotSchedule", "ScheduleAnyway"])),
  ("labelSelector", ref("labelSelector")), ("minDomains", integer(1)),
  ("matchLabelKeys", {"type": "array", "items": {"type": "string"}}),
  ("nodeAffinityPolicy", string(enum=["Honor", "Ignore"])), ("nodeTaintsPolicy", string(enum=["Honor", "Ignore"]))]),
  required=["maxSkew", "topologyKey", "whenUnsatisfiable"]))])
intOrPercentOrNull = O([("type", ["integer", "string", "null"]), ("minimum", 0), ("pattern", r"^[0-9]+%$")])
defs["podDisruptionBudget"] = obj(O([("enabled", boolean()),
  ("maxUnavailable", intOrPercentOrNull), ("minAvailable", intOrPercentOrNull)]),
  desc="At most one of maxUnavailable and minAvailable; both null = maxUnavailable 1")
hpa_rules = obj(O([("stabilizationWindowSeconds", integer(0, 3600)),
  ("selectPolicy", string(enum=["Max", "Min", "Disabled"])),
  ("policies", O([("type", "array"), ("items", obj(O([("type", string(enum=["Pods", "Percent"])),
     ("value", integer(1)), ("periodSeconds", integer(1, 1800))])))]))]), required=[])
defs["hpaBehavior"] = obj(O([("scaleUp", hpa_rules), ("scaleDown", hpa_rules)]), required=[],
  desc="autoscaling/v2 HorizontalPodAutoscalerBehavior (scaleUp/scaleDown: stabilizationWindowSeconds, selectPolicy, policies); {} = Kubernetes' defaults")
defs["autoscaling"] = obj(O([("enabled", boolean("Render an autoscaling/v2 HorizontalPodAutoscaler (replicas is then left to it)")),
  ("minReplicas", integer(1)), ("maxReplicas", integer(1)),
  ("targetCPUUtilizationPercentage", integer(1, 1000, null=True)),
  ("targetMemoryUtilizationPercentage", integer(1, 1000, null=True)),
  ("behavior", ref("hpaBehavior"))]))
defs["priorityClassName"] = string(pattern=r"^$|" + DNS_SUBDOMAIN)
peer = obj(O([("podSelector", ref("labelSelector")), ("namespaceSelector", ref("labelSelector")),
  ("ipBlock", obj(O([("cidr", string(minLength=1)), ("except", {"type": "array", "items": {"type": "string"}})]), required=["cidr"]))]), required=[])
defs["networkPolicyPeer"] = peer
defs["networkPolicyEgressRule"] = obj(O([("to", {"type": "array", "items": ref("networkPolicyPeer")}),
  ("ports", {"type": "array", "items": obj(O([("port", O([("type", ["integer", "string"]), ("minimum", 1), ("maximum", 65535)])),
      ("endPort", integer(1, 65535)), ("protocol", string(enum=["TCP", "UDP", "SCTP"]))]), required=[])})]), required=[])

# ---- extras of issue 18 item 6: env, volumes, user containers --------------------------------------
# The labels the chart sets on every object (selectors among them): commonLabels/podLabels cannot
# override them (the templates fail too).
CHART_LABELS = ["helm.sh/chart", "app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component",
  "app.kubernetes.io/version", "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by"]
LABEL_KEY = defs["labels"]["propertyNames"]["pattern"]
defs["extraLabels"] = O([("description", "Labels added to the chart's; not the ones the chart sets (" + ", ".join(CHART_LABELS) + ")"),
  ("type", "object"), ("propertyNames", O([("pattern", LABEL_KEY), ("not", O([("description", "a label the chart sets (selector and standard labels cannot be overridden)"), ("enum", CHART_LABELS)]))])),
  ("additionalProperties", defs["labels"]["additionalProperties"])])
defs["commonAnnotations"] = O([("description", "Annotations put on every object the chart renders (not helm.sh/* : those are Helm's hook controls)"),
  ("type", "object"), ("propertyNames", O([("minLength", 1), ("not", O([("description", "helm.sh/* annotations are Helm's hook controls"), ("pattern", r"^helm\.sh/")]))])),
  ("additionalProperties", {"type": "string"})])
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
keyref = lambda: obj(O([("name", string(minLength=1)), ("key", string(minLength=1)), ("optional", boolean())]), required=["name", "key"])
defs["envVar"] = obj(O([
  ("name", O([("type", "string"), ("description", "Not a variable the chart sets (MANAGED_ENV: configuration, secrets, POD_NAME)"),
     ("pattern", ENV_NAME), ("not", O([("description", "a variable the chart sets; change it through the chart's own value"), ("enum", MANAGED_ENV)]))])),
  ("value", string()),
  ("valueFrom", obj(O([("secretKeyRef", keyref()), ("configMapKeyRef", keyref()),
     ("fieldRef", obj(O([("fieldPath", string(minLength=1)), ("apiVersion", string())]), required=["fieldPath"])),
     ("resourceFieldRef", obj(O([("resource", string(minLength=1)), ("containerName", string()), ("divisor", ref("quantity"))]), required=["resource"]))]),
     required=[], minProperties=1, maxProperties=1))]),
  required=["name"], desc="An EnvVar: name with value or valueFrom (secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef)")
nameref = lambda: obj(O([("name", string(minLength=1)), ("optional", boolean())]), required=["name"])
defs["envFromSource"] = obj(O([("configMapRef", nameref()), ("secretRef", nameref()), ("prefix", string(pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$"))]),
  required=[], minProperties=1, desc="An EnvFromSource (configMapRef or secretRef, optional prefix); the chart's ConfigMap comes after it, so the chart's settings win")
CHART_VOLUMES = ["tmp", "secrets", "kube-api"]
VOLUME_SOURCES = ["emptyDir", "configMap", "secret", "projected", "downwardAPI", "persistentVolumeClaim", "ephemeral", "csi",
  "nfs", "iscsi", "fc", "cephfs", "rbd", "glusterfs", "azureFile", "azureDisk", "awsElasticBlockStore", "gcePersistentDisk",
  "vsphereVolume", "portworxVolume", "flexVolume", "cinder", "quobyte", "scaleIO", "storageos", "photonPersistentDisk", "image"]
defs["volume"] = O([("description", "A pod Volume: name and one source (" + ", ".join(VOLUME_SOURCES[:8]) + ", …); no hostPath; not the chart's volume names (" + ", ".join(CHART_VOLUMES) + ")"),
  ("type", "object"), ("required", ["name"]), ("minProperties", 2), ("maxProperties", 2),
  ("properties", O([("name", O([("type", "string"), ("pattern", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), ("maxLength", 63), ("not", O([("description", "a volume name the chart uses"), ("enum", CHART_VOLUMES)]))]))])),
  ("propertyNames", {"enum": ["name"] + VOLUME_SOURCES}),
  ("additionalProperties", {"type": "object"})])
MOUNT_PATH = O([("type", "string"), ("description", "Absolute; not /tmp itself nor under /var/run/secrets/bollard (the chart's)"),
  ("pattern", r"^/[^\x00]+$"), ("not", O([("description", "/tmp itself and /var/run/secrets/bollard are the chart's mounts"), ("pattern", r"^(/tmp/?|/var/run/secrets/bollard(/.*)?)$")]))])
defs["volumeMount"] = obj(O([("name", string(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")), ("mountPath", MOUNT_PATH),
  ("subPath", string()), ("subPathExpr", string()), ("readOnly", boolean()),
  ("mountPropagation", string(enum=["None", "HostToContainer"])), ("recursiveReadOnly", string(enum=["Disabled", "IfPossible", "Enabled"]))]),
  required=["name", "mountPath"], desc="A VolumeMount of the chart's container")
CHART_CONTAINERS = ["api", "worker", "migrate"]
anyobj = {"type": "object"}
anyarr = lambda: {"type": "array", "items": {"type": "object"}}
strarr = lambda: {"type": "array", "items": {"type": "string"}}
defs["userSecurityContext"] = obj(O([
  ("runAsNonRoot", O([("const", True)])), ("runAsUser", integer(1)), ("runAsGroup", integer(0)),
  ("readOnlyRootFilesystem", O([("const", True)])), ("allowPrivilegeEscalation", O([("const", False)])),
  ("privileged", O([("const", False)])),
  ("capabilities", obj(O([("drop", strarr()), ("add", {"type": "array", "items": string(enum=["NET_BIND_SERVICE"])})]), required=[])),
  ("seccompProfile", obj(O([("type", string(enum=["RuntimeDefault", "Localhost"])), ("localhostProfile", string())]), required=["type"])),
  ("appArmorProfile", anyobj), ("seLinuxOptions", anyobj), ("procMount", string(enum=["Default"]))]), required=[],
  desc="Merged over the chart's hardening (non-root, read-only root filesystem, no privilege escalation, capabilities dropped, seccomp RuntimeDefault), which it may not loosen")
defs["container"] = obj(O([
  ("name", O([("type", "string"), ("pattern", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"), ("maxLength", 63), ("not", O([("description", "a container name the chart uses"), ("enum", CHART_CONTAINERS)]))])),
  ("image", string(minLength=1)), ("imagePullPolicy", string(enum=["Always", "IfNotPresent", "Never"])),
  ("command", strarr()), ("args", strarr()), ("workingDir", string()),
  ("ports", anyarr()), ("env", anyarr()), ("envFrom", anyarr()), ("resources", ref("resources")), ("resizePolicy", anyarr()),
  ("restartPolicy", string("initContainers only: Always = a native sidecar (Kubernetes >= 1.29)", enum=["Always"])),
  ("volumeMounts", anyarr()), ("livenessProbe", anyobj), ("readinessProbe", anyobj), ("startupProbe", anyobj),
  ("lifecycle", anyobj), ("terminationMessagePath", string()), ("terminationMessagePolicy", string(enum=["File", "FallbackToLogsOnError"])),
  ("securityContext", ref("userSecurityContext")), ("stdin", boolean()), ("stdinOnce", boolean()), ("tty", boolean())]),
  required=["name", "image"], desc="A container of your own (its image is yours); not named like the chart's (" + ", ".join(CHART_CONTAINERS) + ")")

def extras(role):
    """Per-role extras (issue 18 item 6)."""
    main = {"api": "the api container", "worker": "the worker container", "migrations": "the migrate container of both migration Jobs"}[role]
    sidecar = "containers next to " + main + (" (in the Jobs: native sidecars, initContainers with restartPolicy Always, Kubernetes >= 1.29, so that the Job completes)" if role == "migrations" else "")
    return O([
      ("podLabels", ref("extraLabels")),
      ("extraEnv", O([("description", "EnvVar list for " + main + " (value or valueFrom); names the chart sets are refused"), ("type", "array"), ("items", ref("envVar"))])),
      ("extraEnvFrom", O([("description", "EnvFromSource list for " + main + "; the chart's own settings win over it"), ("type", "array"), ("items", ref("envFromSource"))])),
      ("extraVolumes", O([("description", "Volumes added to the pod"), ("type", "array"), ("items", ref("volume"))])),
      ("extraVolumeMounts", O([("description", "VolumeMounts of " + main + " (extraVolumes, or the chart's tmp)"), ("type", "array"), ("items", ref("volumeMount"))])),
      ("initContainers", O([("description", "Init containers run before " + main), ("type", "array"), ("items", ref("container"))])),
      ("sidecars", O([("description", sidecar), ("type", "array"), ("items", ref("container"))]))])

def scheduling():
    return O([("nodeSelector", ref("nodeSelector")), ("tolerations", ref("tolerations")), ("affinity", ref("affinity"))])

api = O()
api["replicas"] = integer(0, desc="Ignored while autoscaling is enabled")
api["threads"] = integer(0, 256, "API_THREADS: event-loop threads, 0 = usable CPUs (follows the CPU limit)")
api["passwordHashThreads"] = integer(1, 64, "PASSWORD_HASH_THREADS: argon2id hashing threads off the event loops")
api["resources"] = ref("resources")
api["shutdown"] = obj(O([
  ("drainSeconds", integer(0, 300, "SHUTDOWN_DRAIN_SECONDS: keep serving (not ready) after SIGTERM; below timeoutSeconds")),
  ("timeoutSeconds", integer(1, 3600, "SHUTDOWN_TIMEOUT_SECONDS: exit by then at the latest")),
  ("preStopSleepSeconds", integer(0, 300, "lifecycle.preStop.sleep before SIGTERM (Kubernetes >= 1.30); 0 = none"))]))
api["terminationGracePeriodSeconds"] = integer(1, null=True, desc="null = preStopSleepSeconds + timeoutSeconds + 5")
api["probes"] = obj(O([("handler", string("httpGet: kubelet HTTP probes; exec: /probe live|ready in the container", enum=["httpGet", "exec"])),
  ("startup", ref("probeTimings")), ("liveness", ref("probeTimings")), ("readiness", ref("readinessTimings"))]))
api["minReadySeconds"] = integer(0)
api["revisionHistoryLimit"] = integer(0)
api["podDisruptionBudget"] = ref("podDisruptionBudget")
api["autoscaling"] = ref("autoscaling")
api["podAnnotations"] = ref("annotations")
api.update(extras("api"))
api.update(scheduling())
api["topologySpreadConstraints"] = ref("topologySpreadConstraints")
api["priorityClassName"] = ref("priorityClassName")

worker = O()
worker["enabled"] = boolean()
worker["replicas"] = integer(0, desc="Ignored while autoscaling is enabled")
worker["concurrency"] = integer(1, 256, "WORKER_CONCURRENCY: webhook deliveries in flight per worker")
worker["resources"] = ref("resources")
worker["shutdown"] = obj(O([("timeoutSeconds", integer(1, 3600, "SHUTDOWN_TIMEOUT_SECONDS of the worker"))]))
worker["terminationGracePeriodSeconds"] = integer(1, null=True, desc="null = shutdown.timeoutSeconds + 5")
worker["heartbeat"] = obj(O([("file", string("WORKER_HEARTBEAT_FILE; must be under /tmp (the only writable path)", pattern=r"^/tmp/[^\s]+$")),
  ("maxAgeSeconds", integer(1, 3600, "liveness fails when the heartbeat is older"))]))
worker["probes"] = obj(O([("startup", ref("probeTimings")), ("liveness", ref("probeTimings")),
  ("readiness", ref("readinessTimings"))]))
worker["revisionHistoryLimit"] = integer(0)
worker["podDisruptionBudget"] = ref("podDisruptionBudget")
worker["autoscaling"] = ref("autoscaling")
worker["keda"] = obj(O([
  ("enabled", boolean("Render a KEDA ScaledObject (keda.sh/v1alpha1, needs KEDA) on the webhook job stream bollard:{webhooks}:jobs, group deliverers; not together with autoscaling.enabled")),
  ("minReplicaCount", integer(0, desc="0 = scale to zero (metric lagCount only: with no worker nothing is pending)")),
  ("maxReplicaCount", integer(1)),
  ("pollingInterval", integer(1, 3600, "Seconds between two reads of the stream")),
  ("cooldownPeriod", integer(0, 86400, "Seconds after the last activity before scaling back to 0 (minReplicaCount 0 only)")),
  ("metric", string("pendingEntriesCount: jobs read by the group and not yet acknowledged (XPENDING); lagCount: jobs the group has not read yet (Redis >= 7)", enum=["pendingEntriesCount", "lagCount"])),
  ("target", integer(1, 1000000, "Average value of the metric per worker replica")),
  ("activationLagCount", integer(0, 1000000, "lagCount only: the lag above which a worker scaled to zero is started")),
  ("redis", obj(O([
     ("address", string("host:port of Redis as KEDA reaches it; empty = the host and port of secret.redisUrl (required with secret.existingSecret)",
        pattern=r"^$|^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$")),
     ("databaseIndex", integer(0, 100000, "null = the database of secret.redisUrl (0 with secret.existingSecret)", null=True)),
     ("enableTLS", boolean("KEDA connects with TLS (e.g. to the endpoint a TLS sidecar of the worker reaches)")),
     ("unsafeSsl", boolean("With enableTLS: skip KEDA's certificate check"))]),
     desc="How KEDA reaches Redis; the username and password come from the Secret (secret.keys.redisUsername/redisPassword)")),
  ("behavior", ref("hpaBehavior"))]),
  desc="KEDA autoscaling of the worker on the Redis Streams queue (instead of autoscaling)")
worker["podAnnotations"] = ref("annotations")
worker.update(extras("worker"))
worker.update(scheduling())
worker["topologySpreadConstraints"] = ref("topologySpreadConstraints")
worker["priorityClassName"] = ref("priorityClassName")

mig = O()
mig["enabled"] = boolean("false: no migration Job (migrations run elsewhere, e.g. by CI)")
mig["mode"] = string("hook: pre-install/pre-upgrade Helm hook; job: a plain Job in the release", enum=["hook", "job"])
mig["backoffLimit"] = integer(0, 100)
mig["activeDeadlineSeconds"] = integer(1)
mig["ttlSecondsAfterFinished"] = integer(0, null=True)
contract = O()
contract["enabled"] = boolean("hook mode: a post-install/post-upgrade Job applies contract migrations after the API rollout")
contract["waitRolloutSeconds"] = integer(1, 86400)
contract["activeDeadlineSeconds"] = integer(1)
mig["contract"] = obj(contract, desc="The contract phase (CONTRACT §4): after the rollout, never before")
mig["permanentFailureExitCodes"] = O([("description", "migrate exit codes that fail the Job at once (ascending, no 0)"),
  ("type", "array"), ("items", integer(1, 255)), ("uniqueItems", True), ("maxItems", 255)])
mig["resources"] = ref("resources")
mig["podAnnotations"] = ref("annotations")
mig.update(extras("migrations"))
mig.update(scheduling())
mig["priorityClassName"] = ref("priorityClassName")

config = O()
config["environment"] = string("ENVIRONMENT", enum=["dev", "staging", "production"])
config["logLevel"] = string("LOG_LEVEL", enum=["debug", "info", "warn", "error"])
config["port"] = integer(1, 65535, "PORT")
config["accessLog"] = boolean("ACCESS_LOG")
config["frontendUrl"] = string("FRONTEND_URL: CORS origins, comma-separated", pattern=r"^(|https?://[^\s,]+(,\s*https?://[^\s,]+)*)$")
config["jwtExpirationDays"] = integer(1, 365, "JWT_EXPIRATION_DAYS")
config["maxBodyBytes"] = integer(1024, 16777216, "MAX_BODY_BYTES")
config["database"] = obj(O([("poolSize", integer(1, 64, "DB_POOL_SIZE")), ("queueMax", integer(0, 100000, "DB_QUEUE_MAX")),
  ("connectTimeoutMs", integer(100, 600000, "DB_CONNECT_TIMEOUT_MS")), ("queryTimeoutMs", integer(10, 600000, "DB_QUERY_TIMEOUT_MS")),
  ("preparedStatements", boolean("DB_PREPARED_STATEMENTS: false behind a transaction-pooling PgBouncer"))]))
path = r"^$|^/[^\x00\s]*$"
config["redis"] = obj(O([("timeoutMs", integer(10, 600000, "REDIS_TIMEOUT_MS")),
  ("tls", obj(O([
    ("secretName", string("A Secret mounted read-only at /etc/bollard/redis-tls in the API, worker and test pods (e.g. cert-manager's ca.crt, tls.crt, tls.key); empty = none", pattern=r"^$|" + DNS_SUBDOMAIN[1:])),
    ("caFile", string("REDIS_TLS_CA_FILE: PEM CAs trusted for a rediss:// server's certificate; empty = the system store", pattern=path)),
    ("certFile", string("REDIS_TLS_CERT_FILE: client certificate for a server that requires one (with keyFile)", pattern=path)),
    ("keyFile", string("REDIS_TLS_KEY_FILE: the client certificate's key", pattern=path)),
    ("insecureSkipVerify", boolean("REDIS_TLS_INSECURE_SKIP_VERIFY: do not verify the server's certificate; only with config.environment dev"))]),
    desc="TLS for a rediss:// secret.redisUrl"))]))
config["health"] = obj(O([("checkTimeoutMs", integer(10, 10000, "HEALTH_CHECK_TIMEOUT_MS")), ("cacheMs", integer(0, 1000, "HEALTH_CACHE_MS"))]))
config["webhooks"] = obj(O([("maxAttempts", integer(1, 50, "WEBHOOK_MAX_ATTEMPTS")), ("timeoutMs", integer(100, 120000, "WEBHOOK_TIMEOUT_MS")),
  ("allowPrivate", boolean("WEBHOOK_ALLOW_PRIVATE"))]))
config["workerVisibilityTimeoutSeconds"] = integer(5, 86400, "WORKER_VISIBILITY_TIMEOUT_SECONDS")
config["migrate"] = obj(O([("connectTimeoutSeconds", integer(1, 3600, "MIGRATE_CONNECT_TIMEOUT_SECONDS")),
  ("lockTimeoutSeconds", integer(1, 3600, "MIGRATE_LOCK_TIMEOUT_SECONDS")),
  ("statementTimeoutSeconds", integer(1, 86400, "MIGRATE_STATEMENT_TIMEOUT_SECONDS")),
  ("statusConnectTimeoutSeconds", integer(1, 3600, "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS"))]))
config["signupLimitPerHour"] = integer(0, 1000000, "SIGNUP_LIMIT_PER_HOUR: sign-ups per client address per hour; 0 = no limit")
config["jwtAlgorithm"] = string("JWT_ALGORITHM: only HS256 is supported", enum=["HS256"])
config["console"] = obj(O([("enabled", boolean("CONSOLE_ENABLED: the web console at /"))]))
url = r"^$|^https?://\S+$"
text = lambda desc, n=1024: string(desc, pattern=r"^[^\x00]*$", maxLength=n)
config["assistant"] = obj(O([
  ("provider", string("LLM_PROVIDER: empty = no assistant (the chat routes answer 503); GROQ, OPENROUTER or OPENAI (any OpenAI-compatible server); its key goes in secret.keys", enum=["", "GROQ", "OPENROUTER", "OPENAI", "groq", "openrouter", "openai"])),
  ("agentName", text("AGENT_NAME", 200)),
  ("agentInstructions", text("AGENT_INSTRUCTIONS: empty = the built-in instructions", 16384)),
  ("maxTokens", integer(1, 200000, "MAX_TOKENS")),
  ("temperature", O([("type", ["number", "string"]), ("description", "TEMPERATURE (0 to 2)"), ("minimum", 0), ("maximum", 2),
     ("pattern", r"^[0-9]*\.?[0-9]+$")])),
  ("timeoutMs", integer(100, 600000, "LLM_TIMEOUT_MS")),
  ("maxToolRounds", integer(1, 20, "CHAT_MAX_TOOL_ROUNDS")),
  ("historyMessages", integer(0, 200, "CHAT_HISTORY_MESSAGES")),
  ("maxInflight", integer(1, 100000, "CHAT_MAX_INFLIGHT: chats in flight per event-loop thread")),
  ("groq", obj(O([("baseUrl", string("GROQ_BASE_URL", pattern=url)), ("model", text("GROQ_MODEL", 200))]))),
  ("openrouter", obj(O([("baseUrl", string("OPENROUTER_BASE_URL", pattern=url)), ("model", text("OPENROUTER_MODEL", 200)),
     ("referer", string("OPENROUTER_REFERER: attribution header; empty = none", pattern=url)),
     ("title", text("OPENROUTER_TITLE: attribution header; empty = none", 200))]))),
  ("openai", obj(O([("baseUrl", string("LLM_BASE_URL: required with provider OPENAI", pattern=url)),
     ("model", text("LLM_MODEL: required with provider OPENAI", 200))])))]),
  desc="The todo assistant (chat and /mcp): provider and tuning")
config["trustedProxies"] = string("TRUSTED_PROXIES: CIDRs of proxies whose X-Forwarded-For/Forwarded name the client, comma-separated (e.g. 10.0.0.0/8,fd00::/8); empty = none",
  pattern=r"^$|^[0-9A-Fa-f.:]+/[0-9]{1,3}(\s*,\s*[0-9A-Fa-f.:]+/[0-9]{1,3}){0,63}$")
config["extraEnv"] = O([("description", "More environment variables (strings) for every role; not the ones the chart sets, not secrets"),
  ("type", "object"),
  ("propertyNames", O([("pattern", r"^[A-Za-z_][A-Za-z0-9_]*$"), ("not", {"enum": MANAGED_ENV})])),
  ("additionalProperties", {"type": "string"})])

secret = O()
secret["existingSecret"] = string("Name of a Secret you manage; the chart then creates none", pattern=r"^$|" + DNS_SUBDOMAIN)
# The URL schemes `bollard` accepts (pkg/config validate_database_url, validate_redis_url): sqlite:
# only with ENVIRONMENT=dev (the root anyOf below); redis:// or rediss:// (TLS, config.redis.tls).
secret["databaseUrl"] = string("DATABASE_URL (required unless existingSecret): postgresql:// or postgres://; sqlite: only with config.environment dev", pattern=r"^$|^(postgres|postgresql)://\S+$|^sqlite:\S+$")
secret["secretKey"] = string("SECRET_KEY, at least 32 bytes (required unless existingSecret)", pattern=r"^$|^[\s\S]{32,}$")
secret["redisUrl"] = string("REDIS_URL (required unless existingSecret): redis:// or rediss:// (TLS, see config.redis.tls)", pattern=r"^$|^rediss?://\S+$")
keypat = r"^[-._a-zA-Z0-9]+$"
optkey = r"^$|^[-._a-zA-Z0-9]+$"
secret["migrateDatabaseUrl"] = string("MIGRATE_DATABASE_URL (optional): the migration Jobs' database URL past a transaction pooler", pattern=r"^$|^(postgres|postgresql)://\S+$")
secret["llmApiKey"] = string("The assistant's key (optional): GROQ_API_KEY, OPENROUTER_API_KEY or LLM_API_KEY, by config.assistant.provider")
secret["keys"] = obj(O([("databaseUrl", string(pattern=keypat)), ("secretKey", string(pattern=keypat)), ("redisUrl", string(pattern=keypat)),
  ("migrateDatabaseUrl", string("Key of MIGRATE_DATABASE_URL; empty = none (with existingSecret: set it when the Secret has one)", pattern=optkey)),
  ("llmApiKey", string("Key of the assistant's API key; empty = none (with existingSecret: set it when the Secret has one)", pattern=optkey)),
  ("redisUsername", string("worker.keda only: key of the Redis username for KEDA's TriggerAuthentication; empty = none (inline secrets: REDIS_USERNAME, from secret.redisUrl)", pattern=optkey)),
  ("redisPassword", string("worker.keda only: key of the Redis password for KEDA's TriggerAuthentication; empty = none (inline secrets: REDIS_PASSWORD, from secret.redisUrl)", pattern=optkey))]),
  desc="Key names inside the Secret")
secret["mountAsFiles"] = boolean("true: mounted files + NAME_FILE variables; false: environment variables")

props = O()
props["global"] = O([("description", "Values shared with umbrella charts; not used by this chart"), ("type", "object")])
props["nameOverride"] = string(pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63)
props["fullnameOverride"] = string(pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63)
props["clusterDomain"] = string("Cluster DNS domain (the helm test pod uses the Service's full name)", pattern=DNS_SUBDOMAIN)
props["commonLabels"] = ref("extraLabels")
props["commonAnnotations"] = ref("commonAnnotations")
props["podAnnotations"] = ref("annotations")
props["podLabels"] = ref("extraLabels")
props["image"] = obj(O([
  ("repository", string("Image repository, without tag or digest", pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")),
  ("tag", string("Defaults to the chart's appVersion (quote numeric tags)", pattern=r"^$|^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")),
  ("digest", string("sha256:<64 hex>; wins over tag", pattern=r"^$|^sha256:[a-f0-9]{64}$")),
  ("pullPolicy", string(enum=["Always", "IfNotPresent", "Never"]))]), desc="The one image every role runs")
props["imagePullSecrets"] = O([("type", "array"), ("items", obj(O([("name", string(minLength=1))])))])
props["config"] = obj(config, desc="Non-secret settings (ConfigMap)")
props["secret"] = obj(secret, desc="DATABASE_URL, SECRET_KEY, REDIS_URL (and the optional MIGRATE_DATABASE_URL and assistant key): from these values or an existing Secret")
props["alerts"] = obj(O([("webhook", obj(O([
  ("enabled", boolean("Post alerts (migrate failures, the worker's dead letters) to url; needs url and signingSecret, or a Secret holding them")),
  ("url", string("ALERT_WEBHOOK_URL: http(s) URL of the receiver, e.g. a Slack incoming webhook (stored in the chart's Secret)", pattern=r"^$|^https?://\S+$")),
  ("signingSecret", string("ALERT_WEBHOOK_SECRET: signing secret of X-Bollard-Signature, at least 16 bytes", pattern=r"^$|^[\s\S]{16,}$")),
  ("existingSecret", string("A Secret of yours holding the URL and the signing secret (keys); empty = the chart's Secret", pattern=r"^$|" + DNS_SUBDOMAIN)),
  ("keys", obj(O([("url", string("Key of ALERT_WEBHOOK_URL", pattern=keypat)), ("signingSecret", string("Key of ALERT_WEBHOOK_SECRET", pattern=keypat))]),
     desc="Key names inside the Secret")),
  ("minIntervalSeconds", integer(1, 86400, "ALERT_MIN_INTERVAL_SECONDS: at most one worker alert per interval, counting the dead letters since the last one"))]),
  desc="Signed Slack-compatible alert POSTs without Alertmanager"))]), desc="Alerts without Alertmanager (README, Alerts)")
props["serviceAccount"] = obj(O([("create", boolean()), ("name", string(pattern=r"^$|" + DNS_SUBDOMAIN)), ("annotations", ref("annotations"))]))
props["podSecurityContext"] = obj(O([("runAsUser", integer(1, desc="non-root UID")), ("runAsGroup", integer(1)), ("fsGroup", integer(1))]),
  desc="Pod identity; the remaining hardening is fixed")
props["tmpVolume"] = obj(O([("sizeLimit", ref("quantity"))]), desc="The emptyDir mounted at /tmp")
props["api"] = obj(api, desc="HTTP API Deployment")
props["worker"] = obj(worker, desc="Background worker Deployment")
# KEDA makes its own HorizontalPodAutoscaler for the worker: two autoscalers would fight over its
# replicas. (anyOf: one of the two switches off; the template and `chart values lint` say it in words.)
props["worker"]["anyOf"] = [
  {"description": "worker.keda.enabled: KEDA off, or", "properties": {"keda": {"properties": {"enabled": {"const": False}}}}},
  {"description": "worker.autoscaling.enabled: the HPA off", "properties": {"autoscaling": {"properties": {"enabled": {"const": False}}}}}]
props["migrations"] = obj(mig, desc="Database migration Job")
CIDR = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9A-Fa-f:]+:[0-9A-Fa-f:.]*/[0-9]{1,3})$"
props["service"] = obj(O([("type", string(enum=["ClusterIP", "NodePort", "LoadBalancer"])), ("port", integer(1, 65535)),
  ("nodePort", integer(30000, 32767, "Only with type NodePort/LoadBalancer", null=True)),
  ("externalTrafficPolicy", string("Only with type NodePort/LoadBalancer: Local keeps the client address (no second hop); empty = Kubernetes' default (Cluster)", enum=["", "Cluster", "Local"])),
  ("loadBalancerSourceRanges", O([("description", "Only with type LoadBalancer: client CIDRs the cloud load balancer admits; [] = any"),
     ("type", "array"), ("items", string(pattern=CIDR)), ("uniqueItems", True)])),
  ("annotations", ref("annotations")), ("labels", ref("extraLabels"))]))
HOST = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
props["ingress"] = obj(O([("enabled", boolean("Render a networking.k8s.io/v1 Ingress to the Service (port http)")),
  ("className", string("ingressClassName; empty = the cluster's default class", pattern=r"^$|" + DNS_SUBDOMAIN)),
  ("annotations", ref("annotations")), ("labels", ref("extraLabels")),
  ("hosts", O([("type", "array"), ("items", obj(O([("host", string("Empty = every host", pattern=r"^$|" + HOST)),
     ("paths", O([("type", "array"), ("minItems", 1), ("items", obj(O([("path", string(pattern=r"^/[^\s]*$")),
        ("pathType", string(enum=["Prefix", "Exact", "ImplementationSpecific"]))])))]))])))])),
  ("tls", O([("type", "array"), ("items", obj(O([("secretName", string(pattern=DNS_SUBDOMAIN)),
     ("hosts", {"type": "array", "items": string(pattern=HOST)})]), required=["secretName"]))]))]),
  desc="Ingress (the console is at /, the API under /api, health under /health)")
props["httpRoute"] = obj(O([("enabled", boolean("Render a Gateway API HTTPRoute (gateway.networking.k8s.io/v1) to the Service; needs parentRefs")),
  ("annotations", ref("annotations")), ("labels", ref("extraLabels")),
  ("parentRefs", O([("description", "The Gateway(s) (and listener sectionName) the route attaches to"), ("type", "array"),
     ("items", obj(O([("name", string(pattern=DNS_SUBDOMAIN)), ("namespace", string(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")),
       ("sectionName", string(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")), ("port", integer(1, 65535)),
       ("group", string()), ("kind", string())]), required=["name"]))])),
  ("hostnames", {"type": "array", "items": string(pattern=HOST)}),
  ("matches", O([("description", "HTTPRouteMatch list of the one rule; [] = every request"), ("type", "array"),
     ("items", obj(O([("path", obj(O([("type", string(enum=["PathPrefix", "Exact", "RegularExpression"])), ("value", string(pattern=r"^/"))]), required=["type", "value"])),
       ("headers", {"type": "array", "items": obj(O([("name", string(minLength=1)), ("value", string()), ("type", string(enum=["Exact", "RegularExpression"]))]), required=["name", "value"])}),
       ("method", string(enum=["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]))]), required=[]))]))]),
  desc="Gateway API HTTPRoute")
props["networkPolicy"] = obj(O([("enabled", boolean()),
  ("apiIngressFrom", O([("description", "NetworkPolicyPeer list allowed to reach the API port; [] = any"), ("type", "array"), ("items", ref("networkPolicyPeer"))])),
  ("egress", obj(O([("restrict", boolean("Also restrict egress (DNS always allowed)")),
     ("rules", {"type": "array", "items": ref("networkPolicyEgressRule")})])))]))
props["metrics"] = obj(O([("port", integer(1, 65535, "METRICS_PORT: /metrics of the API pods, carried only by the headless Service named after the release fullname plus -metrics, never by the public Service; must differ from config.port")),
  ("service", obj(O([("annotations", ref("annotations")), ("labels", ref("extraLabels"))]), desc="The headless metrics Service")),
  ("networkPolicy", obj(O([("namespaceSelector", ref("labelSelector"))]), desc="With networkPolicy.enabled: namespaceSelector (a LabelSelector) picks the namespaces whose pods may reach the metrics port; {} = every namespace"))]),
  desc="/metrics on its own port (METRICS_PORT)")
dur = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
props["serviceMonitor"] = obj(O([("enabled", boolean("Needs the prometheus-operator CRDs")),
  ("interval", string(pattern=dur)), ("scrapeTimeout", string(pattern=dur)), ("labels", ref("labels"))]))
# `--set` hands Helm a fraction as a string ("0.5"): a decimal string is accepted too, and the
# template checks its bounds (prometheusrule.yaml) where the schema's minimum/maximum cannot.
num = lambda lo, hi, desc=None: O([("type", ["number", "string"])] + ([("description", "%s (%g to %g)" % (desc, lo, hi))] if desc else []) +
  [("minimum", lo), ("maximum", hi), ("pattern", r"^[0-9]*\.?[0-9]+$")])
props["prometheusRule"] = obj(O([("enabled", boolean("Render a PrometheusRule (needs the prometheus-operator CRDs)")),
  ("labels", ref("labels")), ("alertLabels", ref("labels")),
  ("runbookBaseUrl", string("Published docs/runbooks.md; runbook_url = this + #section", pattern=r"^https?://[^\s#]+$")),
  ("selector", string("PromQL label matchers for this release's series; empty = namespace and ServiceMonitor job",
     pattern=r'^$|^[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)"[^"]*"(\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*(=|!=|=~|!~)"[^"]*")*$')),
  ("thresholds", obj(O([("errorRatio", num(0, 1, "5xx share of responses")),
     ("latencyP99Seconds", num(0.001, 2, "p99 latency of a route; at most 2 (the histogram's highest finite bucket is 2.5 s)")),
     ("dbPoolSaturation", num(0.1, 1, "connections in use / pool size")),
     ("queueOldestPendingSeconds", integer(1, 86400)),
     ("outboxOldestUnpublishedSeconds", integer(1, 86400))])))]),
  desc="Alerts with runbooks (docs/runbooks.md)")
props["grafanaDashboard"] = obj(O([("enabled", boolean("Render the dashboard ConfigMap for the Grafana sidecar")),
  ("labels", ref("labels")), ("annotations", ref("annotations")),
  ("namespace", string("Namespace of the ConfigMap; empty = the release namespace", pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63))]),
  desc="Grafana dashboard ConfigMap (sidecar)")
props["tests"] = obj(O([("enabled", boolean()), ("resources", ref("resources"))]), desc="The helm test Pod")

schema = O()
schema["$schema"] = "http://json-schema.org/draft-07/schema#"
schema["title"] = "Values of the Bollard Helm chart"
schema["description"] = "Every value is declared; unknown keys are refused at every level except global. Kept within what both draft-07 (Helm < 3.18.5) and 2020-12 (Helm >= 3.18.5) validators accept."
schema["type"] = "object"
schema["additionalProperties"] = False
schema["properties"] = props
schema["required"] = [k for k in props if k != "global"]
# sqlite: outside ENVIRONMENT=dev is refused by the binary (exit 78): either the environment is dev
# or the URL is not sqlite: (first, so that a linter's message names the URL).
schema["anyOf"] = [
  {"properties": {"secret": {"properties": {"databaseUrl": {"not": {"pattern": "^sqlite:"}}}}}},
  {"properties": {"config": {"properties": {"environment": {"enum": ["dev"]}}}}}]
schema["definitions"] = defs
print(json.dumps(schema, indent=2))
