package main

// Checks across objects: references that the API server accepts but that leave a release broken
// (a Service selecting no pod, a PDB or NetworkPolicy protecting nothing, a pod mounting a Secret
// that nothing creates).

import (
	"fmt"
	"os"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

type podTemplate struct {
	owner  string
	labels map[string]string
	spec   *corev1.PodSpec
	hook   string
}

// External objects a release may legitimately reference without rendering them,
// e.g. KVALIDATE_EXTERNAL="Secret/bollard-external ServiceAccount/default".
func externalObjects() map[string]bool {
	// Published by Kubernetes itself in every namespace (since 1.20): the API server's CA bundle.
	out := map[string]bool{"ConfigMap/kube-root-ca.crt": true}
	for _, f := range strings.Fields(os.Getenv("KVALIDATE_EXTERNAL")) {
		out[f] = true
	}
	return out
}

func crossCheck(docs []document) []string {
	var e errs
	seen := map[string]string{}
	exists := externalObjects()
	var templates []podTemplate
	var services []*corev1.Service
	for _, d := range docs {
		if d.obj == nil {
			continue
		}
		m := objectMeta(d.obj)
		kind := d.gvk[strings.LastIndex(d.gvk, "/")+1:]
		key := kind + "/" + m.Name
		if prev, dup := seen[key]; dup {
			e.add("%s: %s is also defined at %s", d.source, key, prev)
		}
		seen[key] = d.source
		exists[key] = true
		hook := m.Annotations["helm.sh/hook"]
		switch o := d.obj.(type) {
		case *appsv1.Deployment:
			templates = append(templates, podTemplate{key, o.Spec.Template.Labels, &o.Spec.Template.Spec, hook})
		case *appsv1.StatefulSet:
			templates = append(templates, podTemplate{key, o.Spec.Template.Labels, &o.Spec.Template.Spec, hook})
		case *batchv1.Job:
			templates = append(templates, podTemplate{key, o.Spec.Template.Labels, &o.Spec.Template.Spec, hook})
		case *batchv1.CronJob:
			templates = append(templates, podTemplate{key, o.Spec.JobTemplate.Spec.Template.Labels, &o.Spec.JobTemplate.Spec.Template.Spec, hook})
		case *corev1.Pod:
			templates = append(templates, podTemplate{key, o.Labels, &o.Spec, hook})
		case *corev1.Service:
			services = append(services, o)
		}
	}
	// Objects every namespace has.
	exists["ServiceAccount/default"] = true

	matching := func(sel labels.Selector) []podTemplate {
		var out []podTemplate
		for _, t := range templates {
			if sel.Matches(labels.Set(t.labels)) {
				out = append(out, t)
			}
		}
		return out
	}
	for _, d := range docs {
		if d.obj == nil {
			continue
		}
		name := objectName(d.obj)
		switch o := d.obj.(type) {
		case *corev1.Service:
			if len(o.Spec.Selector) == 0 {
				continue
			}
			pods := matching(labels.SelectorFromSet(o.Spec.Selector))
			if len(pods) == 0 {
				e.add("%s: Service %s: selector %v matches no pod template", d.source, name, o.Spec.Selector)
			}
			for _, t := range pods {
				if t.hook != "" {
					e.add("%s: Service %s: selector also matches the hook/test pods of %s", d.source, name, t.owner)
				}
				for _, p := range o.Spec.Ports {
					if p.TargetPort.StrVal == "" {
						continue
					}
					if !hasPortName(t.spec, p.TargetPort.StrVal) {
						e.add("%s: Service %s: targetPort %q is not a container port name of %s", d.source, name, p.TargetPort.StrVal, t.owner)
					}
				}
			}
		case *policyv1.PodDisruptionBudget:
			if o.Spec.Selector == nil {
				continue
			}
			if sel, err := metav1.LabelSelectorAsSelector(o.Spec.Selector); err == nil && len(matching(sel)) == 0 {
				e.add("%s: PodDisruptionBudget %s: selector matches no pod template", d.source, name)
			}
		case *networkingv1.NetworkPolicy:
			if sel, err := metav1.LabelSelectorAsSelector(&o.Spec.PodSelector); err == nil && len(matching(sel)) == 0 {
				e.add("%s: NetworkPolicy %s: podSelector matches no pod template", d.source, name)
			}
		case *autoscalingv2.HorizontalPodAutoscaler:
			ref := o.Spec.ScaleTargetRef
			if !exists[ref.Kind+"/"+ref.Name] {
				e.add("%s: HorizontalPodAutoscaler %s: scaleTargetRef %s/%s is not in the release", d.source, name, ref.Kind, ref.Name)
			}
			if ref.Kind == "Deployment" {
				for _, dd := range docs {
					if dep, ok := dd.obj.(*appsv1.Deployment); ok && dep.Name == ref.Name && dep.Spec.Replicas != nil {
						e.add("%s: HorizontalPodAutoscaler %s: Deployment %s also sets spec.replicas, so every upgrade resets the scale", d.source, name, ref.Name)
					}
				}
			}
		case *networkingv1.Ingress:
			for i, r := range o.Spec.Rules {
				if r.HTTP == nil {
					continue
				}
				for j, p := range r.HTTP.Paths {
					svc := p.Backend.Service
					if svc == nil {
						continue
					}
					s := findService(services, svc.Name)
					if s == nil {
						e.add("%s: Ingress %s: rules[%d].paths[%d] backend Service %s is not in the release", d.source, name, i, j, svc.Name)
					} else if svc.Port.Name != "" && !serviceHasPort(s, svc.Port.Name) {
						e.add("%s: Ingress %s: Service %s has no port named %q", d.source, name, svc.Name, svc.Port.Name)
					} else if svc.Port.Name == "" && !serviceHasPortNumber(s, svc.Port.Number) {
						e.add("%s: Ingress %s: Service %s has no port %d", d.source, name, svc.Name, svc.Port.Number)
					}
				}
			}
		case *HTTPRoute:
			for i, r := range o.Spec.Rules {
				for j, b := range r.BackendRefs {
					if b.Kind != nil && *b.Kind != "Service" || b.Namespace != nil {
						continue
					}
					s := findService(services, b.Name)
					if s == nil {
						e.add("%s: HTTPRoute %s: rules[%d].backendRefs[%d] Service %s is not in the release", d.source, name, i, j, b.Name)
					} else if b.Port != nil && !serviceHasPortNumber(s, *b.Port) {
						e.add("%s: HTTPRoute %s: Service %s has no port %d", d.source, name, b.Name, *b.Port)
					}
				}
			}
		case *ScaledObject:
			ref := o.Spec.ScaleTargetRef
			kind := ref.Kind
			if kind == "" {
				kind = "Deployment"
			}
			if !exists[kind+"/"+ref.Name] {
				e.add("%s: ScaledObject %s: scaleTargetRef %s/%s is not in the release", d.source, name, kind, ref.Name)
			}
			for _, dd := range docs {
				if dep, ok := dd.obj.(*appsv1.Deployment); ok && kind == "Deployment" && dep.Name == ref.Name && dep.Spec.Replicas != nil {
					e.add("%s: ScaledObject %s: Deployment %s also sets spec.replicas, so every upgrade resets the scale", d.source, name, ref.Name)
				}
				if hpa, ok := dd.obj.(*autoscalingv2.HorizontalPodAutoscaler); ok && hpa.Spec.ScaleTargetRef.Kind == kind && hpa.Spec.ScaleTargetRef.Name == ref.Name {
					e.add("%s: ScaledObject %s: HorizontalPodAutoscaler %s scales the same %s (KEDA makes its own)", d.source, name, hpa.Name, ref.Name)
				}
			}
			for i, t := range o.Spec.Triggers {
				if t.AuthenticationRef == nil {
					continue
				}
				k := t.AuthenticationRef.Kind
				if k == "" {
					k = "TriggerAuthentication"
				}
				if !exists[k+"/"+t.AuthenticationRef.Name] {
					e.add("%s: ScaledObject %s: triggers[%d].authenticationRef %s/%s is not in the release", d.source, name, i, k, t.AuthenticationRef.Name)
				}
			}
		case *TriggerAuthentication:
			for i, r := range o.Spec.SecretTargetRef {
				if !exists["Secret/"+r.Name] {
					e.add("%s: TriggerAuthentication %s: secretTargetRef[%d] references Secret/%s, which is neither rendered nor declared external", d.source, name, i, r.Name)
				}
			}
		case *ServiceMonitor:
			sel, err := metav1.LabelSelectorAsSelector(&o.Spec.Selector)
			if err != nil {
				continue
			}
			var hit []*corev1.Service
			for _, s := range services {
				if sel.Matches(labels.Set(s.Labels)) {
					hit = append(hit, s)
				}
			}
			if len(hit) == 0 {
				e.add("%s: ServiceMonitor %s: selector matches no Service", d.source, name)
			}
			for _, ep := range o.Spec.Endpoints {
				for _, s := range hit {
					if ep.Port != "" && !serviceHasPort(s, ep.Port) {
						e.add("%s: ServiceMonitor %s: Service %s has no port named %q", d.source, name, s.Name, ep.Port)
					}
				}
			}
		}
	}
	// References from pods to objects that must exist (or be declared external).
	for _, t := range templates {
		for _, ref := range podReferences(t.spec) {
			if !exists[ref.key] && !ref.optional {
				e.add("%s: references %s, which is neither rendered nor declared external", t.owner, ref.key)
			}
		}
	}
	return e
}

func hasPortName(s *corev1.PodSpec, name string) bool {
	for _, c := range s.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

func findService(services []*corev1.Service, name string) *corev1.Service {
	for _, s := range services {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func serviceHasPortNumber(s *corev1.Service, port int32) bool {
	for _, p := range s.Spec.Ports {
		if p.Port == port {
			return true
		}
	}
	return false
}

func serviceHasPort(s *corev1.Service, name string) bool {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return true
		}
	}
	return false
}

type reference struct {
	key      string
	optional bool
}

func opt(b *bool) bool { return b != nil && *b }

func podReferences(s *corev1.PodSpec) []reference {
	var out []reference
	sa := s.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	out = append(out, reference{"ServiceAccount/" + sa, false})
	for _, v := range s.Volumes {
		if v.Secret != nil {
			out = append(out, reference{"Secret/" + v.Secret.SecretName, opt(v.Secret.Optional)})
		}
		if v.ConfigMap != nil {
			out = append(out, reference{"ConfigMap/" + v.ConfigMap.Name, opt(v.ConfigMap.Optional)})
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					out = append(out, reference{"Secret/" + src.Secret.Name, opt(src.Secret.Optional)})
				}
				if src.ConfigMap != nil {
					out = append(out, reference{"ConfigMap/" + src.ConfigMap.Name, opt(src.ConfigMap.Optional)})
				}
			}
		}
	}
	for _, group := range [][]corev1.Container{s.InitContainers, s.Containers} {
		for _, c := range group {
			for _, ef := range c.EnvFrom {
				if ef.ConfigMapRef != nil {
					out = append(out, reference{"ConfigMap/" + ef.ConfigMapRef.Name, opt(ef.ConfigMapRef.Optional)})
				}
				if ef.SecretRef != nil {
					out = append(out, reference{"Secret/" + ef.SecretRef.Name, opt(ef.SecretRef.Optional)})
				}
			}
			for _, ev := range c.Env {
				if ev.ValueFrom == nil {
					continue
				}
				if r := ev.ValueFrom.SecretKeyRef; r != nil {
					out = append(out, reference{"Secret/" + r.Name, opt(r.Optional)})
				}
				if r := ev.ValueFrom.ConfigMapKeyRef; r != nil {
					out = append(out, reference{"ConfigMap/" + r.Name, opt(r.Optional)})
				}
			}
		}
	}
	return out
}

var _ = fmt.Sprintf
