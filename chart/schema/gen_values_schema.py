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
  "LLM_API_KEY", "LLM_API_KEY_FILE", "MIGRATE_DATABASE_URL", "MIGRATE_DATABASE_URL_FILE"]

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
defs["autoscaling"] = obj(O([("enabled", boolean("Render an autoscaling/v2 HorizontalPodAutoscaler (replicas is then left to it)")),
  ("minReplicas", integer(1)), ("maxReplicas", integer(1)),
  ("targetCPUUtilizationPercentage", integer(1, 1000, null=True)),
  ("targetMemoryUtilizationPercentage", integer(1, 1000, null=True))]))
defs["priorityClassName"] = string(pattern=r"^$|" + DNS_SUBDOMAIN[1:])
peer = obj(O([("podSelector", ref("labelSelector")), ("namespaceSelector", ref("labelSelector")),
  ("ipBlock", obj(O([("cidr", string(minLength=1)), ("except", {"type": "array", "items": {"type": "string"}})]), required=["cidr"]))]), required=[])
defs["networkPolicyPeer"] = peer
defs["networkPolicyEgressRule"] = obj(O([("to", {"type": "array", "items": ref("networkPolicyPeer")}),
  ("ports", {"type": "array", "items": obj(O([("port", O([("type", ["integer", "string"]), ("minimum", 1), ("maximum", 65535)])),
      ("endPort", integer(1, 65535)), ("protocol", string(enum=["TCP", "UDP", "SCTP"]))]), required=[])})]), required=[])

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
worker["probes"] = obj(O([("startup", ref("probeTimings")), ("liveness", ref("probeTimings"))]))
worker["revisionHistoryLimit"] = integer(0)
worker["podDisruptionBudget"] = ref("podDisruptionBudget")
worker["autoscaling"] = ref("autoscaling")
worker["podAnnotations"] = ref("annotations")
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
secret["existingSecret"] = string("Name of a Secret you manage; the chart then creates none", pattern=r"^$|" + DNS_SUBDOMAIN[1:])
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
  ("llmApiKey", string("Key of the assistant's API key; empty = none (with existingSecret: set it when the Secret has one)", pattern=optkey))]),
  desc="Key names inside the Secret")
secret["mountAsFiles"] = boolean("true: mounted files + NAME_FILE variables; false: environment variables")

props = O()
props["global"] = O([("description", "Values shared with umbrella charts; not used by this chart"), ("type", "object")])
props["nameOverride"] = string(pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63)
props["fullnameOverride"] = string(pattern=r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", maxLength=63)
props["clusterDomain"] = string("Cluster DNS domain (the helm test pod uses the Service's full name)", pattern=DNS_SUBDOMAIN)
props["commonLabels"] = ref("labels")
props["podAnnotations"] = ref("annotations")
props["podLabels"] = ref("labels")
props["image"] = obj(O([
  ("repository", string("Image repository, without tag or digest", pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")),
  ("tag", string("Defaults to the chart's appVersion (quote numeric tags)", pattern=r"^$|^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")),
  ("digest", string("sha256:<64 hex>; wins over tag", pattern=r"^$|^sha256:[a-f0-9]{64}$")),
  ("pullPolicy", string(enum=["Always", "IfNotPresent", "Never"]))]), desc="The one image every role runs")
props["imagePullSecrets"] = O([("type", "array"), ("items", obj(O([("name", string(minLength=1))])))])
props["config"] = obj(config, desc="Non-secret settings (ConfigMap)")
props["secret"] = obj(secret, desc="DATABASE_URL, SECRET_KEY, REDIS_URL (and the optional MIGRATE_DATABASE_URL and assistant key): from these values or an existing Secret")
props["serviceAccount"] = obj(O([("create", boolean()), ("name", string(pattern=r"^$|" + DNS_SUBDOMAIN[1:])), ("annotations", ref("annotations"))]))
props["podSecurityContext"] = obj(O([("runAsUser", integer(1, desc="non-root UID")), ("runAsGroup", integer(1)), ("fsGroup", integer(1))]),
  desc="Pod identity; the remaining hardening is fixed")
props["tmpVolume"] = obj(O([("sizeLimit", ref("quantity"))]), desc="The emptyDir mounted at /tmp")
props["api"] = obj(api, desc="HTTP API Deployment")
props["worker"] = obj(worker, desc="Background worker Deployment")
props["migrations"] = obj(mig, desc="Database migration Job")
props["service"] = obj(O([("type", string(enum=["ClusterIP", "NodePort", "LoadBalancer"])), ("port", integer(1, 65535)),
  ("nodePort", integer(30000, 32767, "Only with type NodePort/LoadBalancer", null=True)),
  ("annotations", ref("annotations")), ("labels", ref("labels"))]))
props["networkPolicy"] = obj(O([("enabled", boolean()),
  ("apiIngressFrom", O([("description", "NetworkPolicyPeer list allowed to reach the API port; [] = any"), ("type", "array"), ("items", ref("networkPolicyPeer"))])),
  ("egress", obj(O([("restrict", boolean("Also restrict egress (DNS always allowed)")),
     ("rules", {"type": "array", "items": ref("networkPolicyEgressRule")})])))]))
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
