package main

import (
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// registry maps apiVersion/kind to a constructor of its typed struct. Only stable API versions
// that current clusters serve are listed; anything else is reported, never skipped.
var registry = map[string]func() any{
	"v1/ConfigMap":                             func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                                func() any { return &corev1.Secret{} },
	"v1/Service":                               func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                        func() any { return &corev1.ServiceAccount{} },
	"v1/Pod":                                   func() any { return &corev1.Pod{} },
	"apps/v1/Deployment":                       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                      func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                             func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":                         func() any { return &batchv1.CronJob{} },
	"policy/v1/PodDisruptionBudget":            func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler":   func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":       func() any { return &networkingv1.NetworkPolicy{} },
	"networking.k8s.io/v1/Ingress":             func() any { return &networkingv1.Ingress{} },
	"rbac.authorization.k8s.io/v1/Role":        func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding": func() any { return &rbacv1.RoleBinding{} },
	"monitoring.coreos.com/v1/ServiceMonitor":  func() any { return &ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule":  func() any { return &PrometheusRule{} },
	"gateway.networking.k8s.io/v1/HTTPRoute":   func() any { return &HTTPRoute{} },
	"keda.sh/v1alpha1/ScaledObject":            func() any { return &ScaledObject{} },
	"keda.sh/v1alpha1/TriggerAuthentication":   func() any { return &TriggerAuthentication{} },
}

func knownKinds() []string {
	out := make([]string, 0, len(registry))
	for k := range registry {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ServiceMonitor is the subset of the prometheus-operator CRD (monitoring.coreos.com/v1) that a
// chart has reason to render. Field names and types follow the CRD; a field outside this subset
// is refused like any unknown field, so extend this struct deliberately when the chart needs more.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ServiceMonitorSpec `json:"spec"`
}

type ServiceMonitorSpec struct {
	JobLabel          string               `json:"jobLabel,omitempty"`
	TargetLabels      []string             `json:"targetLabels,omitempty"`
	PodTargetLabels   []string             `json:"podTargetLabels,omitempty"`
	Endpoints         []SMEndpoint         `json:"endpoints"`
	Selector          metav1.LabelSelector `json:"selector"`
	NamespaceSelector *SMNamespaceSelector `json:"namespaceSelector,omitempty"`
	SampleLimit       *uint64              `json:"sampleLimit,omitempty"`
}

type SMNamespaceSelector struct {
	Any        bool     `json:"any,omitempty"`
	MatchNames []string `json:"matchNames,omitempty"`
}

type SMEndpoint struct {
	Port                 string              `json:"port,omitempty"`
	TargetPort           *intstr.IntOrString `json:"targetPort,omitempty"`
	Path                 string              `json:"path,omitempty"`
	Scheme               string              `json:"scheme,omitempty"`
	Params               map[string][]string `json:"params,omitempty"`
	Interval             string              `json:"interval,omitempty"`
	ScrapeTimeout        string              `json:"scrapeTimeout,omitempty"`
	HonorLabels          bool                `json:"honorLabels,omitempty"`
	HonorTimestamps      *bool               `json:"honorTimestamps,omitempty"`
	RelabelConfigs       []SMRelabelConfig   `json:"relabelings,omitempty"`
	MetricRelabelConfigs []SMRelabelConfig   `json:"metricRelabelings,omitempty"`
}

type SMRelabelConfig struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	Separator    *string  `json:"separator,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
	Regex        string   `json:"regex,omitempty"`
	Modulus      uint64   `json:"modulus,omitempty"`
	Replacement  *string  `json:"replacement,omitempty"`
	Action       string   `json:"action,omitempty"`
}

// PrometheusRule is the prometheus-operator CRD (monitoring.coreos.com/v1) in full: rule groups of
// alerting or recording rules. The expressions themselves are checked by `promtool check rules`
// (tests/chart/test_alerts.py), not here.
type PrometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PrometheusRuleSpec `json:"spec"`
}

type PrometheusRuleSpec struct {
	Groups []PRGroup `json:"groups"`
}

type PRGroup struct {
	Name                    string   `json:"name"`
	Interval                string   `json:"interval,omitempty"`
	QueryOffset             string   `json:"query_offset,omitempty"`
	Limit                   *int     `json:"limit,omitempty"`
	PartialResponseStrategy string   `json:"partial_response_strategy,omitempty"`
	Rules                   []PRRule `json:"rules"`
}

type PRRule struct {
	Record        string             `json:"record,omitempty"`
	Alert         string             `json:"alert,omitempty"`
	Expr          intstr.IntOrString `json:"expr"`
	For           string             `json:"for,omitempty"`
	KeepFiringFor string             `json:"keep_firing_for,omitempty"`
	Labels        map[string]string  `json:"labels,omitempty"`
	Annotations   map[string]string  `json:"annotations,omitempty"`
}

// ScaledObject is the subset of KEDA's CRD (keda.sh/v1alpha1, the version KEDA 2.x serves) that a
// chart renders: scale target, replica bounds, HPA behavior and triggers. Like ServiceMonitor, a
// field outside it is refused as unknown.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

type ScaledObjectSpec struct {
	ScaleTargetRef   KedaScaleTarget `json:"scaleTargetRef"`
	PollingInterval  *int32          `json:"pollingInterval,omitempty"`
	InitialCooldown  *int32          `json:"initialCooldownPeriod,omitempty"`
	CooldownPeriod   *int32          `json:"cooldownPeriod,omitempty"`
	IdleReplicaCount *int32          `json:"idleReplicaCount,omitempty"`
	MinReplicaCount  *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount  *int32          `json:"maxReplicaCount,omitempty"`
	Advanced         *KedaAdvanced   `json:"advanced,omitempty"`
	Triggers         []KedaTrigger   `json:"triggers"`
}

type KedaScaleTarget struct {
	APIVersion             string `json:"apiVersion,omitempty"`
	Kind                   string `json:"kind,omitempty"`
	Name                   string `json:"name"`
	EnvSourceContainerName string `json:"envSourceContainerName,omitempty"`
}

type KedaAdvanced struct {
	RestoreToOriginalReplicaCount bool           `json:"restoreToOriginalReplicaCount,omitempty"`
	HorizontalPodAutoscalerConfig *KedaHPAConfig `json:"horizontalPodAutoscalerConfig,omitempty"`
}

type KedaHPAConfig struct {
	Name     string                                         `json:"name,omitempty"`
	Behavior *autoscalingv2.HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

type KedaTrigger struct {
	Type              string            `json:"type"`
	Name              string            `json:"name,omitempty"`
	UseCachedMetrics  bool              `json:"useCachedMetrics,omitempty"`
	Metadata          map[string]string `json:"metadata"`
	AuthenticationRef *KedaAuthRef      `json:"authenticationRef,omitempty"`
	MetricType        string            `json:"metricType,omitempty"`
}

type KedaAuthRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// TriggerAuthentication (keda.sh/v1alpha1): parameters of a scaler taken from Secrets.
type TriggerAuthentication struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              TriggerAuthenticationSpec `json:"spec"`
}

type TriggerAuthenticationSpec struct {
	SecretTargetRef []KedaSecretTargetRef `json:"secretTargetRef,omitempty"`
}

type KedaSecretTargetRef struct {
	Parameter string `json:"parameter"`
	Name      string `json:"name"`
	Key       string `json:"key"`
}

// HTTPRoute is the subset of the Gateway API CRD (gateway.networking.k8s.io/v1, standard channel)
// a chart renders: parents, hostnames, rules of matches and Service backends.
type HTTPRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              HTTPRouteSpec `json:"spec"`
}

type HTTPRouteSpec struct {
	ParentRefs []GatewayParentRef `json:"parentRefs,omitempty"`
	Hostnames  []string           `json:"hostnames,omitempty"`
	Rules      []HTTPRouteRule    `json:"rules,omitempty"`
}

type GatewayParentRef struct {
	Group       *string `json:"group,omitempty"`
	Kind        *string `json:"kind,omitempty"`
	Namespace   *string `json:"namespace,omitempty"`
	Name        string  `json:"name"`
	SectionName *string `json:"sectionName,omitempty"`
	Port        *int32  `json:"port,omitempty"`
}

type HTTPRouteRule struct {
	Name        *string            `json:"name,omitempty"`
	Matches     []HTTPRouteMatch   `json:"matches,omitempty"`
	BackendRefs []HTTPBackendRef   `json:"backendRefs,omitempty"`
	Timeouts    *HTTPRouteTimeouts `json:"timeouts,omitempty"`
}

type HTTPRouteTimeouts struct {
	Request        *string `json:"request,omitempty"`
	BackendRequest *string `json:"backendRequest,omitempty"`
}

type HTTPRouteMatch struct {
	Path    *HTTPPathMatch    `json:"path,omitempty"`
	Headers []HTTPHeaderMatch `json:"headers,omitempty"`
	Method  *string           `json:"method,omitempty"`
}

type HTTPPathMatch struct {
	Type  *string `json:"type,omitempty"`
	Value *string `json:"value,omitempty"`
}

type HTTPHeaderMatch struct {
	Type  *string `json:"type,omitempty"`
	Name  string  `json:"name"`
	Value string  `json:"value"`
}

type HTTPBackendRef struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace,omitempty"`
	Port      *int32  `json:"port,omitempty"`
	Weight    *int32  `json:"weight,omitempty"`
}
