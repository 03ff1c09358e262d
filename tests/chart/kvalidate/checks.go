package main

// Rules the API server applies on create that a typed decode alone does not catch. This is a
// deliberate subset of k8s.io/kubernetes/pkg/apis/*/validation (that module cannot be imported
// on its own), aimed at the mistakes a chart template can make.

import (
	"fmt"
	"reflect"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metavalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func objectMeta(obj any) *metav1.ObjectMeta {
	v := reflect.ValueOf(obj).Elem().FieldByName("ObjectMeta")
	if !v.IsValid() {
		return nil
	}
	return v.Addr().Interface().(*metav1.ObjectMeta)
}

func objectName(obj any) string {
	if m := objectMeta(obj); m != nil {
		return m.Name
	}
	return "?"
}

type errs []string

func (e *errs) add(format string, a ...any) { *e = append(*e, fmt.Sprintf(format, a...)) }
func (e *errs) addAll(path string, msgs []string) {
	for _, m := range msgs {
		e.add("%s: %s", path, m)
	}
}
func (e *errs) addList(list field.ErrorList) {
	for _, x := range list {
		e.add("%s", x.Error())
	}
}

func checkMeta(m *metav1.ObjectMeta, nameRule func(string) []string, e *errs) {
	if m.Name == "" {
		e.add("metadata.name: required")
	} else {
		e.addAll("metadata.name", nameRule(m.Name))
	}
	e.addList(metavalidation.ValidateLabels(m.Labels, field.NewPath("metadata", "labels")))
	e.addList(apivalidation.ValidateAnnotations(m.Annotations, field.NewPath("metadata", "annotations")))
	if m.Namespace != "" {
		e.addAll("metadata.namespace", validation.IsDNS1123Label(m.Namespace))
	}
}

func jobNameRule(n string) []string {
	// The Job controller copies the name into a pod label, so it must also be a label value.
	out := validation.IsDNS1123Subdomain(n)
	for _, s := range validation.IsValidLabelValue(n) {
		out = append(out, "as the job-name label: "+s)
	}
	return out
}

func checkObject(obj any) []string {
	var e errs
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		for k := range o.Data {
			e.addAll("data["+k+"]", validation.IsConfigMapKey(k))
		}
		for k := range o.BinaryData {
			e.addAll("binaryData["+k+"]", validation.IsConfigMapKey(k))
			if _, dup := o.Data[k]; dup {
				e.add("binaryData[%s]: duplicates a data key", k)
			}
		}
	case *corev1.Secret:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		for k := range o.Data {
			e.addAll("data["+k+"]", validation.IsConfigMapKey(k))
		}
		for k := range o.StringData {
			e.addAll("stringData["+k+"]", validation.IsConfigMapKey(k))
		}
	case *corev1.ServiceAccount:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
	case *corev1.Service:
		checkMeta(&o.ObjectMeta, validation.IsDNS1035Label, &e)
		checkService(o, &e)
	case *corev1.Pod:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		if strings.Contains(o.Annotations["helm.sh/hook"], "test") && o.Spec.RestartPolicy != corev1.RestartPolicyNever {
			e.add("spec.restartPolicy: a helm test Pod must use Never, or a failed test restarts instead of failing")
		}
		checkPodSpec(&o.Spec, "spec", &e)
	case *appsv1.Deployment:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkWorkloadSelector(o.Spec.Selector, o.Spec.Template.Labels, &e)
		if o.Spec.Replicas != nil && *o.Spec.Replicas < 0 {
			e.add("spec.replicas: must be >= 0")
		}
		if rp := o.Spec.Template.Spec.RestartPolicy; rp != "" && rp != corev1.RestartPolicyAlways {
			e.add("spec.template.spec.restartPolicy: a Deployment only allows Always")
		}
		if s := o.Spec.Strategy; s.Type == appsv1.RecreateDeploymentStrategyType && s.RollingUpdate != nil {
			e.add("spec.strategy.rollingUpdate: not allowed with type Recreate")
		} else if s.RollingUpdate != nil {
			surge, unavail := s.RollingUpdate.MaxSurge, s.RollingUpdate.MaxUnavailable
			if isZero(surge) && isZero(unavail) {
				e.add("spec.strategy.rollingUpdate: maxSurge and maxUnavailable may not both be 0")
			}
		}
		checkPodSpec(&o.Spec.Template.Spec, "spec.template.spec", &e)
	case *appsv1.StatefulSet:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkWorkloadSelector(o.Spec.Selector, o.Spec.Template.Labels, &e)
		checkPodSpec(&o.Spec.Template.Spec, "spec.template.spec", &e)
	case *batchv1.Job:
		checkMeta(&o.ObjectMeta, jobNameRule, &e)
		checkJobSpec(&o.Spec, "spec", &e)
	case *batchv1.CronJob:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		if len(o.Name) > 52 {
			e.add("metadata.name: a CronJob name must be at most 52 characters")
		}
		checkJobSpec(&o.Spec.JobTemplate.Spec, "spec.jobTemplate.spec", &e)
	case *policyv1.PodDisruptionBudget:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		if (o.Spec.MinAvailable == nil) == (o.Spec.MaxUnavailable == nil) {
			e.add("spec: exactly one of minAvailable and maxUnavailable must be set")
		}
		if o.Spec.Selector == nil || (len(o.Spec.Selector.MatchLabels) == 0 && len(o.Spec.Selector.MatchExpressions) == 0) {
			e.add("spec.selector: required (an empty selector matches every pod in the namespace)")
		} else if _, err := metav1.LabelSelectorAsSelector(o.Spec.Selector); err != nil {
			e.add("spec.selector: %v", err)
		}
	case *autoscalingv2.HorizontalPodAutoscaler:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkHPA(o, &e)
	case *networkingv1.NetworkPolicy:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkNetworkPolicy(o, &e)
	case *ServiceMonitor:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkServiceMonitor(o, &e)
	case *PrometheusRule:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkPrometheusRule(o, &e)
	case *networkingv1.Ingress:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		for i, r := range o.Spec.Rules {
			if r.Host != "" {
				h := strings.TrimPrefix(r.Host, "*.")
				e.addAll(fmt.Sprintf("spec.rules[%d].host", i), validation.IsDNS1123Subdomain(h))
			}
			if r.HTTP == nil {
				continue
			}
			for j, p := range r.HTTP.Paths {
				pp := fmt.Sprintf("spec.rules[%d].http.paths[%d]", i, j)
				if p.PathType == nil {
					e.add("%s.pathType: required", pp)
				} else if *p.PathType != networkingv1.PathTypeImplementationSpecific && !strings.HasPrefix(p.Path, "/") {
					e.add("%s.path: must be an absolute path", pp)
				}
				if (p.Backend.Service == nil) == (p.Backend.Resource == nil) {
					e.add("%s.backend: exactly one of service and resource", pp)
				}
			}
		}
	case *HTTPRoute:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkHTTPRoute(o, &e)
	case *ScaledObject:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		checkScaledObject(o, &e)
	case *TriggerAuthentication:
		checkMeta(&o.ObjectMeta, validation.IsDNS1123Subdomain, &e)
		for i, r := range o.Spec.SecretTargetRef {
			if r.Parameter == "" || r.Name == "" || r.Key == "" {
				e.add("spec.secretTargetRef[%d]: parameter, name and key are required", i)
			}
		}
	default:
		if m := objectMeta(obj); m != nil {
			checkMeta(m, validation.IsDNS1123Subdomain, &e)
		}
	}
	return e
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false // defaulted to 25%
	}
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return v.StrVal == "0%" || v.StrVal == "0"
}

func checkWorkloadSelector(sel *metav1.LabelSelector, tmplLabels map[string]string, e *errs) {
	if sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		e.add("spec.selector: required and non-empty")
		return
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		e.add("spec.selector: %v", err)
		return
	}
	if !s.Matches(labels.Set(tmplLabels)) {
		e.add("spec.template.metadata.labels: `selector` does not match template `labels`")
	}
}

func checkJobSpec(s *batchv1.JobSpec, path string, e *errs) {
	tp := s.Template.Spec.RestartPolicy
	if tp != corev1.RestartPolicyNever && tp != corev1.RestartPolicyOnFailure {
		e.add("%s.template.spec.restartPolicy: must be Never or OnFailure in a Job", path)
	}
	if s.Selector != nil && (s.ManualSelector == nil || !*s.ManualSelector) {
		e.add("%s.selector: set without manualSelector: the API server generates it", path)
	}
	if s.BackoffLimit != nil && *s.BackoffLimit < 0 {
		e.add("%s.backoffLimit: must be >= 0", path)
	}
	if s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds <= 0 {
		e.add("%s.activeDeadlineSeconds: must be > 0", path)
	}
	if s.TTLSecondsAfterFinished != nil && *s.TTLSecondsAfterFinished < 0 {
		e.add("%s.ttlSecondsAfterFinished: must be >= 0", path)
	}
	if pfp := s.PodFailurePolicy; pfp != nil {
		if tp != corev1.RestartPolicyNever {
			e.add("%s.podFailurePolicy: only allowed with template.spec.restartPolicy Never", path)
		}
		names := map[string]bool{}
		for _, c := range s.Template.Spec.Containers {
			names[c.Name] = true
		}
		for _, c := range s.Template.Spec.InitContainers {
			names[c.Name] = true
		}
		for i, r := range pfp.Rules {
			rp := fmt.Sprintf("%s.podFailurePolicy.rules[%d]", path, i)
			switch r.Action {
			case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore,
				batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex:
			default:
				e.add("%s.action: unsupported value %q", rp, r.Action)
			}
			if (r.OnExitCodes == nil) == (len(r.OnPodConditions) == 0) {
				e.add("%s: exactly one of onExitCodes and onPodConditions is required", rp)
			}
			if ec := r.OnExitCodes; ec != nil {
				if ec.ContainerName != nil && !names[*ec.ContainerName] {
					e.add("%s.onExitCodes.containerName: %q is not a container of the pod", rp, *ec.ContainerName)
				}
				if ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpIn && ec.Operator != batchv1.PodFailurePolicyOnExitCodesOpNotIn {
					e.add("%s.onExitCodes.operator: must be In or NotIn", rp)
				}
				if len(ec.Values) == 0 || len(ec.Values) > 255 {
					e.add("%s.onExitCodes.values: between 1 and 255 values", rp)
				}
				for j, v := range ec.Values {
					if v == 0 && ec.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
						e.add("%s.onExitCodes.values[%d]: 0 is not allowed with In", rp, j)
					}
					if j > 0 && v <= ec.Values[j-1] {
						e.add("%s.onExitCodes.values[%d]: must be unique and in ascending order", rp, j)
					}
				}
			}
			for j, c := range r.OnPodConditions {
				if c.Type == "" {
					e.add("%s.onPodConditions[%d].type: required", rp, j)
				}
				if c.Status != "" && c.Status != corev1.ConditionTrue && c.Status != corev1.ConditionFalse && c.Status != corev1.ConditionUnknown {
					e.add("%s.onPodConditions[%d].status: must be True, False or Unknown", rp, j)
				}
			}
		}
	}
	checkPodSpec(&s.Template.Spec, path+".template.spec", e)
}

var ianaSvcName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

func checkPort(path string, p intstr.IntOrString, e *errs) {
	if p.Type == intstr.Int {
		e.addAll(path, validation.IsValidPortNum(int(p.IntVal)))
	} else {
		e.addAll(path, validation.IsValidPortName(p.StrVal))
	}
}

func countSet(v reflect.Value) int {
	n := 0
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if (f.Kind() == reflect.Ptr || f.Kind() == reflect.Slice || f.Kind() == reflect.Map) && !f.IsNil() {
			n++
		}
	}
	return n
}

func checkProbe(path string, p *corev1.Probe, ports map[string]bool, liveOrStartup bool, e *errs) {
	if p == nil {
		return
	}
	checkHandler(path, reflect.ValueOf(p.ProbeHandler), p.HTTPGet, p.TCPSocket, ports, e)
	if p.TimeoutSeconds < 0 || p.PeriodSeconds < 0 || p.FailureThreshold < 0 || p.InitialDelaySeconds < 0 {
		e.add("%s: negative timing", path)
	}
	if liveOrStartup && p.SuccessThreshold > 1 {
		e.add("%s.successThreshold: must be 1 for liveness and startup probes", path)
	}
	if p.HTTPGet != nil && !strings.HasPrefix(p.HTTPGet.Path, "/") && p.HTTPGet.Path != "" {
		e.add("%s.httpGet.path: must start with /", path)
	}
	if p.Exec != nil && len(p.Exec.Command) == 0 {
		e.add("%s.exec.command: required", path)
	}
}

func checkHandler(path string, v reflect.Value, hg *corev1.HTTPGetAction, ts *corev1.TCPSocketAction, ports map[string]bool, e *errs) {
	if n := countSet(v); n != 1 {
		e.add("%s: exactly one handler (exec, httpGet, tcpSocket, grpc or sleep) is required, found %d", path, n)
	}
	for _, p := range []*intstr.IntOrString{portOf(hg), portOfTCP(ts)} {
		if p == nil {
			continue
		}
		checkPort(path+".port", *p, e)
		if p.Type == intstr.String && !ports[p.StrVal] {
			e.add("%s.port: %q is not the name of a port of this container", path, p.StrVal)
		}
	}
}

func portOf(h *corev1.HTTPGetAction) *intstr.IntOrString {
	if h == nil {
		return nil
	}
	return &h.Port
}

func portOfTCP(t *corev1.TCPSocketAction) *intstr.IntOrString {
	if t == nil {
		return nil
	}
	return &t.Port
}

func checkPodSpec(s *corev1.PodSpec, path string, e *errs) {
	if len(s.Containers) == 0 {
		e.add("%s.containers: at least one container is required", path)
	}
	volumes := map[string]bool{}
	for i, v := range s.Volumes {
		vp := fmt.Sprintf("%s.volumes[%d]", path, i)
		e.addAll(vp+".name", validation.IsDNS1123Label(v.Name))
		if volumes[v.Name] {
			e.add("%s.name: duplicate volume %q", vp, v.Name)
		}
		volumes[v.Name] = true
		if n := countSet(reflect.ValueOf(v.VolumeSource)); n != 1 {
			e.add("%s: exactly one volume source is required, found %d", vp, n)
		}
		if v.Secret != nil && v.Secret.SecretName == "" {
			e.add("%s.secret.secretName: required", vp)
		}
		if v.ConfigMap != nil && v.ConfigMap.Name == "" {
			e.add("%s.configMap.name: required", vp)
		}
	}
	if s.ServiceAccountName != "" {
		e.addAll(path+".serviceAccountName", validation.IsDNS1123Subdomain(s.ServiceAccountName))
	}
	if s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds < 0 {
		e.add("%s.terminationGracePeriodSeconds: must be >= 0", path)
	}
	switch s.RestartPolicy {
	case "", corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure:
	default:
		e.add("%s.restartPolicy: unsupported value %q", path, s.RestartPolicy)
	}
	for i, ps := range s.ImagePullSecrets {
		if ps.Name == "" {
			e.add("%s.imagePullSecrets[%d].name: required", path, i)
		}
	}
	names := map[string]bool{}
	all := []struct {
		list []corev1.Container
		kind string
	}{{s.InitContainers, "initContainers"}, {s.Containers, "containers"}}
	for _, group := range all {
		for i := range group.list {
			c := &group.list[i]
			cp := fmt.Sprintf("%s.%s[%d]", path, group.kind, i)
			checkContainer(c, cp, volumes, group.kind == "initContainers", e)
			if names[c.Name] {
				e.add("%s.name: duplicate container name %q", cp, c.Name)
			}
			names[c.Name] = true
		}
	}
}

func checkContainer(c *corev1.Container, cp string, volumes map[string]bool, isInit bool, e *errs) {
	e.addAll(cp+".name", validation.IsDNS1123Label(c.Name))
	if strings.TrimSpace(c.Image) == "" {
		e.add("%s.image: required", cp)
	}
	switch c.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		e.add("%s.imagePullPolicy: unsupported value %q", cp, c.ImagePullPolicy)
	}
	ports := map[string]bool{}
	for j, p := range c.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", cp, j)
		e.addAll(pp+".containerPort", validation.IsValidPortNum(int(p.ContainerPort)))
		if p.Name != "" {
			e.addAll(pp+".name", validation.IsValidPortName(p.Name))
			if ports[p.Name] {
				e.add("%s.name: duplicate port name %q", pp, p.Name)
			}
			ports[p.Name] = true
		}
		switch p.Protocol {
		case "", corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			e.add("%s.protocol: unsupported value %q", pp, p.Protocol)
		}
	}
	envNames := map[string]bool{}
	for j, ev := range c.Env {
		ep := fmt.Sprintf("%s.env[%d]", cp, j)
		if ev.Name == "" {
			e.add("%s.name: required", ep)
		}
		// Since 1.34 any printable ASCII except '=' is accepted; older API servers want a C identifier.
		e.addAll(ep+".name", validation.IsEnvVarName(ev.Name))
		if envNames[ev.Name] {
			e.add("%s.name: duplicate environment variable %q (the last one silently wins)", ep, ev.Name)
		}
		envNames[ev.Name] = true
		if ev.ValueFrom != nil {
			if ev.Value != "" {
				e.add("%s: value and valueFrom are mutually exclusive", ep)
			}
			if n := countSet(reflect.ValueOf(*ev.ValueFrom)); n != 1 {
				e.add("%s.valueFrom: exactly one source is required, found %d", ep, n)
			}
			if r := ev.ValueFrom.SecretKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				e.add("%s.valueFrom.secretKeyRef: name and key are required", ep)
			}
			if r := ev.ValueFrom.ConfigMapKeyRef; r != nil && (r.Name == "" || r.Key == "") {
				e.add("%s.valueFrom.configMapKeyRef: name and key are required", ep)
			}
			if r := ev.ValueFrom.FieldRef; r != nil && r.FieldPath == "" {
				e.add("%s.valueFrom.fieldRef.fieldPath: required", ep)
			}
		}
	}
	for j, ef := range c.EnvFrom {
		fp := fmt.Sprintf("%s.envFrom[%d]", cp, j)
		if (ef.ConfigMapRef == nil) == (ef.SecretRef == nil) {
			e.add("%s: exactly one of configMapRef and secretRef is required", fp)
		}
		if ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == "" {
			e.add("%s.configMapRef.name: required", fp)
		}
		if ef.SecretRef != nil && ef.SecretRef.Name == "" {
			e.add("%s.secretRef.name: required", fp)
		}
	}
	mounts := map[string]bool{}
	for j, m := range c.VolumeMounts {
		mp := fmt.Sprintf("%s.volumeMounts[%d]", cp, j)
		if !volumes[m.Name] {
			e.add("%s.name: no volume named %q in the pod", mp, m.Name)
		}
		if !strings.HasPrefix(m.MountPath, "/") {
			e.add("%s.mountPath: must be an absolute path", mp)
		}
		if mounts[m.MountPath] {
			e.add("%s.mountPath: %q mounted twice", mp, m.MountPath)
		}
		mounts[m.MountPath] = true
	}
	if isInit && (c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil) &&
		(c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
		e.add("%s: probes are only allowed on sidecar init containers", cp)
	}
	checkProbe(cp+".livenessProbe", c.LivenessProbe, ports, true, e)
	checkProbe(cp+".readinessProbe", c.ReadinessProbe, ports, false, e)
	checkProbe(cp+".startupProbe", c.StartupProbe, ports, true, e)
	if lc := c.Lifecycle; lc != nil {
		for name, h := range map[string]*corev1.LifecycleHandler{"preStop": lc.PreStop, "postStart": lc.PostStart} {
			if h == nil {
				continue
			}
			checkHandler(cp+".lifecycle."+name, reflect.ValueOf(*h), h.HTTPGet, h.TCPSocket, ports, e)
			if h.Sleep != nil && h.Sleep.Seconds < 1 {
				// 0 needs the PodLifecycleSleepActionAllowZero gate (beta in 1.33); refuse it here.
				e.add("%s.lifecycle.%s.sleep.seconds: must be >= 1", cp, name)
			}
		}
	}
	for name, list := range map[string]corev1.ResourceList{"requests": c.Resources.Requests, "limits": c.Resources.Limits} {
		for res, q := range list {
			if q.Sign() < 0 {
				e.add("%s.resources.%s[%s]: must be >= 0", cp, name, res)
			}
		}
	}
	for res, req := range c.Resources.Requests {
		if lim, ok := c.Resources.Limits[res]; ok && req.Cmp(lim) > 0 {
			e.add("%s.resources.requests[%s]: %s is above the limit %s", cp, res, req.String(), lim.String())
		}
	}
	if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged &&
		sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		e.add("%s.securityContext: privileged requires allowPrivilegeEscalation", cp)
	}
}

func checkService(o *corev1.Service, e *errs) {
	switch o.Spec.Type {
	case "", corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
	default:
		e.add("spec.type: unsupported value %q", o.Spec.Type)
	}
	if o.Spec.Type != corev1.ServiceTypeExternalName && len(o.Spec.Ports) == 0 {
		e.add("spec.ports: at least one port is required")
	}
	names := map[string]bool{}
	for i, p := range o.Spec.Ports {
		pp := fmt.Sprintf("spec.ports[%d]", i)
		if len(o.Spec.Ports) > 1 && p.Name == "" {
			e.add("%s.name: required when a Service has more than one port", pp)
		}
		if p.Name != "" {
			e.addAll(pp+".name", validation.IsDNS1123Label(p.Name))
			if names[p.Name] {
				e.add("%s.name: duplicate", pp)
			}
			names[p.Name] = true
		}
		e.addAll(pp+".port", validation.IsValidPortNum(int(p.Port)))
		if p.TargetPort.Type == intstr.String || p.TargetPort.IntVal != 0 {
			checkPort(pp+".targetPort", p.TargetPort, e)
		}
		if p.NodePort != 0 {
			if o.Spec.Type != corev1.ServiceTypeNodePort && o.Spec.Type != corev1.ServiceTypeLoadBalancer {
				e.add("%s.nodePort: may only be set for type NodePort or LoadBalancer", pp)
			} else if p.NodePort < 30000 || p.NodePort > 32767 {
				e.add("%s.nodePort: %d is outside the default node port range 30000-32767", pp, p.NodePort)
			}
		}
	}
}

func checkHPA(o *autoscalingv2.HorizontalPodAutoscaler, e *errs) {
	ref := o.Spec.ScaleTargetRef
	if ref.Kind == "" || ref.Name == "" {
		e.add("spec.scaleTargetRef: kind and name are required")
	}
	if o.Spec.MinReplicas != nil && *o.Spec.MinReplicas < 1 {
		e.add("spec.minReplicas: must be >= 1")
	}
	if o.Spec.MaxReplicas < 1 || (o.Spec.MinReplicas != nil && o.Spec.MaxReplicas < *o.Spec.MinReplicas) {
		e.add("spec.maxReplicas: must be >= 1 and >= minReplicas")
	}
	for i, m := range o.Spec.Metrics {
		mp := fmt.Sprintf("spec.metrics[%d]", i)
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if m.Resource == nil {
				e.add("%s.resource: required for type Resource", mp)
				continue
			}
			t := m.Resource.Target
			switch t.Type {
			case autoscalingv2.UtilizationMetricType:
				if t.AverageUtilization == nil || *t.AverageUtilization < 1 {
					e.add("%s.resource.target.averageUtilization: required and >= 1 for Utilization", mp)
				}
			case autoscalingv2.AverageValueMetricType:
				if t.AverageValue == nil {
					e.add("%s.resource.target.averageValue: required for AverageValue", mp)
				}
			default:
				e.add("%s.resource.target.type: must be Utilization or AverageValue", mp)
			}
		case autoscalingv2.PodsMetricSourceType, autoscalingv2.ObjectMetricSourceType,
			autoscalingv2.ExternalMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		default:
			e.add("%s.type: unsupported value %q", mp, m.Type)
		}
	}
}

func checkNetworkPolicy(o *networkingv1.NetworkPolicy, e *errs) {
	for i, t := range o.Spec.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			e.add("spec.policyTypes[%d]: unsupported value %q", i, t)
		}
	}
	checkNPPorts := func(path string, ports []networkingv1.NetworkPolicyPort) {
		for j, p := range ports {
			if p.Port != nil {
				checkPort(fmt.Sprintf("%s.ports[%d].port", path, j), *p.Port, e)
			}
			if p.Protocol != nil {
				switch *p.Protocol {
				case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
				default:
					e.add("%s.ports[%d].protocol: unsupported value %q", path, j, *p.Protocol)
				}
			}
		}
	}
	checkPeers := func(path string, peers []networkingv1.NetworkPolicyPeer) {
		for j, p := range peers {
			n := 0
			if p.PodSelector != nil || p.NamespaceSelector != nil {
				n++
			}
			if p.IPBlock != nil {
				n++
				if p.IPBlock.CIDR == "" {
					e.add("%s[%d].ipBlock.cidr: required", path, j)
				}
			}
			if n != 1 {
				e.add("%s[%d]: exactly one of (podSelector/namespaceSelector) or ipBlock is required", path, j)
			}
		}
	}
	for i, r := range o.Spec.Ingress {
		p := fmt.Sprintf("spec.ingress[%d]", i)
		checkNPPorts(p, r.Ports)
		checkPeers(p+".from", r.From)
	}
	for i, r := range o.Spec.Egress {
		p := fmt.Sprintf("spec.egress[%d]", i)
		checkNPPorts(p, r.Ports)
		checkPeers(p+".to", r.To)
	}
}

var promDuration = regexp.MustCompile(`^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$`)

func checkServiceMonitor(o *ServiceMonitor, e *errs) {
	if len(o.Spec.Endpoints) == 0 {
		e.add("spec.endpoints: at least one endpoint is required")
	}
	if _, err := metav1.LabelSelectorAsSelector(&o.Spec.Selector); err != nil {
		e.add("spec.selector: %v", err)
	}
	for i, ep := range o.Spec.Endpoints {
		p := fmt.Sprintf("spec.endpoints[%d]", i)
		if ep.Port == "" && ep.TargetPort == nil {
			e.add("%s: port or targetPort is required", p)
		}
		for name, d := range map[string]string{"interval": ep.Interval, "scrapeTimeout": ep.ScrapeTimeout} {
			if d != "" && !promDuration.MatchString(d) {
				e.add("%s.%s: %q is not a Prometheus duration", p, name, d)
			}
		}
		switch ep.Scheme {
		case "", "http", "https", "HTTP", "HTTPS":
		default:
			e.add("%s.scheme: unsupported value %q", p, ep.Scheme)
		}
		if ep.Path != "" && !strings.HasPrefix(ep.Path, "/") {
			e.add("%s.path: must start with /", p)
		}
	}
}

func checkPrometheusRule(o *PrometheusRule, e *errs) {
	if len(o.Spec.Groups) == 0 {
		e.add("spec.groups: at least one group is required")
	}
	names := map[string]bool{}
	for i, g := range o.Spec.Groups {
		p := fmt.Sprintf("spec.groups[%d]", i)
		if g.Name == "" || names[g.Name] {
			e.add("%s.name: required and unique within the PrometheusRule", p)
		}
		names[g.Name] = true
		for j, r := range g.Rules {
			rp := fmt.Sprintf("%s.rules[%d]", p, j)
			if (r.Alert == "") == (r.Record == "") {
				e.add("%s: exactly one of alert and record is required", rp)
			}
			if r.Expr.String() == "" || r.Expr.String() == "0" && r.Expr.Type == intstr.Int {
				e.add("%s.expr: required", rp)
			}
			for name, d := range map[string]string{"for": r.For, "keep_firing_for": r.KeepFiringFor} {
				if d != "" && !promDuration.MatchString(d) {
					e.add("%s.%s: %q is not a Prometheus duration", rp, name, d)
				}
			}
		}
	}
}

// KEDA's admission webhook rules that a chart can break (keda/apis/keda/v1alpha1).
func checkScaledObject(o *ScaledObject, e *errs) {
	if o.Spec.ScaleTargetRef.Name == "" {
		e.add("spec.scaleTargetRef.name: required")
	}
	min, max := int32(0), int32(100)
	if o.Spec.MinReplicaCount != nil {
		min = *o.Spec.MinReplicaCount
	}
	if o.Spec.MaxReplicaCount != nil {
		max = *o.Spec.MaxReplicaCount
	}
	if min < 0 || max < 1 || min > max {
		e.add("spec: minReplicaCount %d / maxReplicaCount %d: need 0 <= min <= max, max >= 1", min, max)
	}
	if len(o.Spec.Triggers) == 0 {
		e.add("spec.triggers: at least one trigger is required")
	}
	for i, t := range o.Spec.Triggers {
		tp := fmt.Sprintf("spec.triggers[%d]", i)
		if t.Type == "" {
			e.add("%s.type: required", tp)
		}
		if t.Type == "redis-streams" {
			md := t.Metadata
			if md["stream"] == "" {
				e.add("%s.metadata.stream: required by the redis-streams scaler", tp)
			}
			if md["address"] == "" && md["host"] == "" && md["addressFromEnv"] == "" && md["hostFromEnv"] == "" {
				e.add("%s.metadata: the redis-streams scaler needs address (or host and port)", tp)
			}
			if _, lag := md["lagCount"]; lag && md["consumerGroup"] == "" {
				e.add("%s.metadata.lagCount: needs consumerGroup", tp)
			}
			for _, k := range []string{"pendingEntriesCount", "lagCount", "activationLagCount", "streamLength", "databaseIndex"} {
				if v, ok := md[k]; ok && !regexp.MustCompile(`^[0-9]+$`).MatchString(v) {
					e.add("%s.metadata.%s: %q is not a non-negative integer", tp, k, v)
				}
			}
			for _, k := range []string{"enableTLS", "unsafeSsl"} {
				if v, ok := md[k]; ok && v != "true" && v != "false" {
					e.add("%s.metadata.%s: %q is not true or false", tp, k, v)
				}
			}
		}
	}
	if min == 0 && o.Spec.CooldownPeriod != nil && *o.Spec.CooldownPeriod < 0 {
		e.add("spec.cooldownPeriod: must be >= 0")
	}
}

// The Gateway API's CEL and OpenAPI rules for what a chart renders (standard channel v1).
func checkHTTPRoute(o *HTTPRoute, e *errs) {
	if len(o.Spec.ParentRefs) == 0 {
		e.add("spec.parentRefs: an HTTPRoute with no parent attaches to no Gateway")
	}
	if len(o.Spec.ParentRefs) > 32 || len(o.Spec.Hostnames) > 16 || len(o.Spec.Rules) > 16 {
		e.add("spec: at most 32 parentRefs, 16 hostnames and 16 rules")
	}
	for i, p := range o.Spec.ParentRefs {
		e.addAll(fmt.Sprintf("spec.parentRefs[%d].name", i), validation.IsDNS1123Subdomain(p.Name))
	}
	for i, h := range o.Spec.Hostnames {
		hp := fmt.Sprintf("spec.hostnames[%d]", i)
		if strings.HasPrefix(h, "*.") {
			e.addAll(hp, validation.IsDNS1123Subdomain(h[2:]))
		} else {
			e.addAll(hp, validation.IsDNS1123Subdomain(h))
		}
	}
	for i, r := range o.Spec.Rules {
		if len(r.Matches) > 64 {
			e.add("spec.rules[%d].matches: at most 64", i)
		}
		for j, m := range r.Matches {
			mp := fmt.Sprintf("spec.rules[%d].matches[%d]", i, j)
			if m.Path != nil {
				t := "PathPrefix"
				if m.Path.Type != nil {
					t = *m.Path.Type
				}
				switch t {
				case "PathPrefix", "Exact", "RegularExpression":
				default:
					e.add("%s.path.type: unsupported value %q", mp, t)
				}
				if m.Path.Value != nil && !strings.HasPrefix(*m.Path.Value, "/") {
					e.add("%s.path.value: must be an absolute path", mp)
				}
			}
		}
		for j, b := range r.BackendRefs {
			bp := fmt.Sprintf("spec.rules[%d].backendRefs[%d]", i, j)
			if (b.Kind == nil || *b.Kind == "Service") && b.Port == nil {
				e.add("%s.port: required for a Service backend", bp)
			}
		}
	}
}
