package validate

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// TestChartRendersAndDecodes: every values file renders, and every object
// decodes strictly into its typed struct.
func TestChartRendersAndDecodes(t *testing.T) {
	for _, vf := range valuesFiles(t) {
		t.Run(filepath.Base(vf), func(t *testing.T) {
			objs := render(t, vf)
			seen := map[string]bool{}
			for _, o := range objs {
				if _, err := Decode(o); err != nil {
					t.Error(err)
				}
				if seen[o.ID()] {
					t.Errorf("%s rendered twice", o.ID())
				}
				seen[o.ID()] = true
				if o.Kind == "Secret" {
					t.Errorf("%s: the chart must reference Secrets, never render one", o.ID())
				}
			}
			for _, id := range []string{"Deployment/tfgate", "Service/tfgate", "ConfigMap/tfgate", "ServiceAccount/tfgate"} {
				if !seen[id] {
					t.Errorf("%s missing", id)
				}
			}
		})
	}
}

// TestDecodeIsStrict: a typo in a field fails, so the strict decoding
// above means something.
func TestDecodeIsStrict(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: 1, appProtcol: grpc}]}\n",
		"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: x}\nspec: {acton: CUSTOM}\n",
		"apiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: x}\nspec: {extAuth: {grpc: {}, failopen: true}}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n",
		"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1, replicas: 2}\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {Ports: [{port: 1}]}\n",
	} {
		objs, err := SplitDocuments("test", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(objs[0]); err == nil {
			t.Errorf("decoded %q without error", doc)
		}
	}
}

// chart is one rendering's objects, decoded.
type chart struct {
	objs   []Object
	deploy *appsv1.Deployment
	svc    *corev1.Service
	config string
}

func decodeChart(t *testing.T, vf string) chart {
	t.Helper()
	c := chart{objs: render(t, vf)}
	for id, dst := range map[string]any{"Deployment/tfgate": &c.deploy, "Service/tfgate": &c.svc} {
		kind, name, _ := strings.Cut(id, "/")
		o, ok := find(c.objs, kind, name)
		if !ok {
			t.Fatalf("%s missing", id)
		}
		v, err := Decode(o)
		if err != nil {
			t.Fatal(err)
		}
		switch d := dst.(type) {
		case **appsv1.Deployment:
			*d = v.(*appsv1.Deployment)
		case **corev1.Service:
			*d = v.(*corev1.Service)
		}
	}
	o, _ := find(c.objs, "ConfigMap", "tfgate")
	cm := mustDecode[corev1.ConfigMap](t, o)
	c.config = cm.Data["extauthz.yaml"]
	if c.config == "" {
		t.Fatal("ConfigMap tfgate has no extauthz.yaml")
	}
	return c
}

// listenPort is the port of a listen address in the rendered config.
func listenPort(t *testing.T, config, key string) int32 {
	t.Helper()
	var cfg struct {
		Listen map[string]string `json:"listen"`
	}
	if err := yaml.Unmarshal([]byte(config), &cfg); err != nil {
		t.Fatal(err)
	}
	_, port, _ := strings.Cut(cfg.Listen[key], ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("listen.%s = %q", key, cfg.Listen[key])
	}
	return int32(n)
}

// TestChartCrossReferences: Service ports, container ports and tfgate's
// listen addresses agree; probes name tfgate's endpoints and ports; HPA,
// PDB, NetworkPolicy and ServiceMonitor point at what exists.
func TestChartCrossReferences(t *testing.T) {
	for _, vf := range valuesFiles(t) {
		t.Run(filepath.Base(vf), func(t *testing.T) {
			c := decodeChart(t, vf)
			ctr := c.deploy.Spec.Template.Spec.Containers[0]
			ports := map[string]int32{}
			for _, p := range ctr.Ports {
				ports[p.Name] = p.ContainerPort
			}
			grpcPort, httpPort := listenPort(t, c.config, "grpc"), listenPort(t, c.config, "http")
			if ports["grpc"] != grpcPort || ports["http"] != httpPort {
				t.Errorf("container ports %v, config listens on grpc %d http %d", ports, grpcPort, httpPort)
			}
			for _, sp := range c.svc.Spec.Ports {
				if _, ok := ports[sp.TargetPort.StrVal]; !ok {
					t.Errorf("Service port %s targets %q, no such container port", sp.Name, sp.TargetPort.StrVal)
				}
				if sp.TargetPort.StrVal == "grpc" && (sp.AppProtocol == nil || *sp.AppProtocol != "grpc") {
					t.Errorf("Service port %s: appProtocol must be grpc (Istio and Envoy Gateway pick HTTP/2 from it)", sp.Name)
				}
			}
			sel := labels.SelectorFromSet(c.svc.Spec.Selector)
			if !sel.Matches(labels.Set(c.deploy.Spec.Template.Labels)) {
				t.Error("the Service selector does not match the pods")
			}
			checkProbes(t, ctr, ports)
			checkScaling(t, c)
			checkNetworkPolicy(t, c, grpcPort)
		})
	}
}

func checkProbes(t *testing.T, ctr corev1.Container, ports map[string]int32) {
	t.Helper()
	if p := ctr.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "http" {
		t.Errorf("liveness probe %+v, want GET /healthz on http", p)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "http" {
		t.Errorf("readiness probe %+v, want GET /readyz on http", p)
	}
	if p := ctr.StartupProbe; p == nil || p.GRPC == nil || p.GRPC.Port != ports["grpc"] {
		t.Errorf("startup probe %+v, want gRPC health on the ext_authz port", p)
	}
}

func checkScaling(t *testing.T, c chart) {
	t.Helper()
	podLabels := labels.Set(c.deploy.Spec.Template.Labels)
	if o, ok := find(c.objs, "HorizontalPodAutoscaler", "tfgate"); ok {
		h := mustDecode[autoscalingv2.HorizontalPodAutoscaler](t, o)
		if h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != c.deploy.Name {
			t.Errorf("HPA targets %+v", h.Spec.ScaleTargetRef)
		}
		if c.deploy.Spec.Replicas != nil {
			t.Error("with an HPA the Deployment must not set replicas (every apply would reset them)")
		}
	}
	if o, ok := find(c.objs, "PodDisruptionBudget", "tfgate"); ok {
		p := mustDecode[policyv1.PodDisruptionBudget](t, o)
		s, err := metav1Selector(p.Spec.Selector)
		if err != nil || !s.Matches(podLabels) {
			t.Errorf("PDB selector does not match the pods (%v)", err)
		}
	}
	if o, ok := find(c.objs, "ServiceMonitor", "tfgate"); ok {
		m := mustDecode[monitoringv1.ServiceMonitor](t, o)
		s, err := metav1Selector(&m.Spec.Selector)
		if err != nil || !s.Matches(labels.Set(c.svc.Labels)) {
			t.Errorf("ServiceMonitor selector does not match the Service (%v)", err)
		}
		names := []string{}
		for _, p := range c.svc.Spec.Ports {
			names = append(names, p.Name)
		}
		for _, e := range m.Spec.Endpoints {
			if !slices.Contains(names, e.Port) || e.Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoint %s %s: the Service has ports %v and tfgate serves /metrics", e.Port, e.Path, names)
			}
		}
	}
}

func checkNetworkPolicy(t *testing.T, c chart, grpcPort int32) {
	t.Helper()
	o, ok := find(c.objs, "NetworkPolicy", "tfgate")
	if !ok {
		t.Fatal("NetworkPolicy tfgate missing (on by default)")
	}
	np := mustDecode[networkingv1.NetworkPolicy](t, o)
	s, err := metav1Selector(&np.Spec.PodSelector)
	if err != nil || !s.Matches(labels.Set(c.deploy.Spec.Template.Labels)) {
		t.Errorf("NetworkPolicy does not select tfgate's pods (%v)", err)
	}
	covered := false
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Port != nil && p.Port.IntVal == grpcPort {
				covered = true
				if len(rule.From) == 0 {
					t.Error("the ext_authz port is open to every pod: a rule with no 'from'")
				}
			}
		}
	}
	if !covered {
		t.Error("no ingress rule for the ext_authz port")
	}
}

// TestChartSecurityContext: every container of every workload runs as
// non-root, read-only, without privilege escalation or capabilities,
// under seccomp RuntimeDefault, with requests and limits.
func TestChartSecurityContext(t *testing.T) {
	for _, vf := range valuesFiles(t) {
		t.Run(filepath.Base(vf), func(t *testing.T) {
			for _, o := range render(t, vf) {
				if o.Kind != "Deployment" {
					continue
				}
				d := mustDecode[appsv1.Deployment](t, o)
				checkPodSecurity(t, o.ID(), d.Spec.Template.Spec)
			}
		})
	}
}

func checkPodSecurity(t *testing.T, id string, pod corev1.PodSpec) {
	t.Helper()
	psc := pod.SecurityContext
	for _, ctr := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
		where := id + " container " + ctr.Name
		sc := ctr.SecurityContext
		if sc == nil {
			t.Errorf("%s: no securityContext", where)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		seccomp := (sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault) ||
			(psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
		switch {
		case !nonRoot:
			t.Errorf("%s: runAsNonRoot not set", where)
		case !seccomp:
			t.Errorf("%s: seccompProfile RuntimeDefault not set", where)
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem not read-only", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation not false", where)
		case sc.Privileged != nil && *sc.Privileged:
			t.Errorf("%s: privileged", where)
		case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := ctr.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", where, res)
			}
			if _, ok := ctr.Resources.Limits[res]; !ok {
				t.Errorf("%s: no %s limit", where, res)
			}
		}
		for _, e := range ctr.Env {
			if e.Value != "" && strings.Contains(strings.ToLower(e.Name), "password") {
				t.Errorf("%s: env %s holds a literal secret; use a secretKeyRef", where, e.Name)
			}
		}
	}
}

// TestChartConfigPassesConfigCheck: the rendered tfgate config passes
// tfgate's own `extauthz config check`, with the environment the
// container gets (every ${VAR} must be one) and files where the pod
// mounts them.
func TestChartConfigPassesConfigCheck(t *testing.T) {
	bin := extauthz(t)
	for _, vf := range valuesFiles(t) {
		t.Run(filepath.Base(vf), func(t *testing.T) {
			c := decodeChart(t, vf)
			checkMountsCoverConfig(t, c)
			pod := newPodFiles(t)
			file := filepath.Join(t.TempDir(), "extauthz.yaml")
			if err := os.WriteFile(file, []byte(pod.rebase(c.config)), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "config", "check", file)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			for _, e := range c.deploy.Spec.Template.Spec.Containers[0].Env {
				// Long enough for any secret (binding_secret needs 32).
				cmd.Env = append(cmd.Env, e.Name+"=from-"+e.Name+"-0123456789abcdef0123456789abcdef")
			}
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("extauthz config check: %v\n%s\nconfig:\n%s", err, out.String(), c.config)
			}
			for _, secret := range []string{"password:", "sentinel_password: \"", "BEGIN"} {
				if strings.Contains(c.config, secret) && !strings.Contains(c.config, "${") {
					t.Errorf("the ConfigMap holds %q: secrets belong in Secrets", secret)
				}
			}
		})
	}
}

// checkMountsCoverConfig: every pod path the config names is under a
// volume the container mounts (or the automounted service-account token,
// when the pod automounts it).
func checkMountsCoverConfig(t *testing.T, c chart) {
	t.Helper()
	pod := c.deploy.Spec.Template.Spec
	var mounts []string
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts = append(mounts, m.MountPath+"/")
	}
	if pod.AutomountServiceAccountToken != nil && *pod.AutomountServiceAccountToken {
		mounts = append(mounts, "/var/run/secrets/kubernetes.io/serviceaccount/")
	}
	for _, line := range strings.Split(c.config, "\n") {
		_, v, ok := strings.Cut(line, ": ")
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if !ok || !strings.HasPrefix(v, "/") {
			continue
		}
		if !slices.ContainsFunc(mounts, func(m string) bool { return strings.HasPrefix(v, m) }) {
			t.Errorf("the config names %s, which no volume mount provides (mounts %v)", v, mounts)
		}
	}
}

// TestChartRefusesUnsafeValues: values that cannot work fail to render
// with a message, instead of rendering a broken deployment.
func TestChartRefusesUnsafeValues(t *testing.T) {
	const redisSAML = "sessions: {store: redis}\nredis: {addrs: [\"redis:6379\"]}\n" +
		"saml: {baseURL: \"https://serving.example.com\", idps: [{name: corp, metadata_url: \"https://idp.example.com/md\"}]}\n"
	for name, tc := range map[string]struct{ vals, msg string }{
		"memory store with replicas": {"replicaCount: 3\n", "sessions.store=memory"},
		"memory store with an HPA":   {"autoscaling: {enabled: true}\n", "sessions.store=memory"},
		"redis without addrs":        {"sessions: {store: redis}\n", "redis.addrs"},
		// Each pod would seal sign-ins with its own random secret.
		"SAML replicas without a binding secret": {redisSAML + "replicaCount: 2\n", "saml.bindingSecret.name is required"},
		"SAML HPA without a binding secret":      {redisSAML + "autoscaling: {enabled: true}\n", "saml.bindingSecret.name is required"},
		"SAML via extraConfig without a binding secret": {"sessions: {store: redis}\nredis: {addrs: [\"redis:6379\"]}\nreplicaCount: 2\n" +
			"extraConfig: {saml: {base_url: \"https://serving.example.com\", idps: [{name: corp, metadata_url: \"https://idp.example.com/md\"}]}}\n",
			"saml.bindingSecret.name is required"},
	} {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(tc.vals), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Render(chartDir, f); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: rendered, or refused without saying %q: %v", name, tc.msg, err)
		}
	}
	// One replica, or no IdP, needs no shared secret.
	for name, vals := range map[string]string{
		"SAML with one replica": redisSAML,
		"replicas without SAML": "sessions: {store: redis}\nredis: {addrs: [\"redis:6379\"]}\nreplicaCount: 3\n",
	} {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(vals), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Render(chartDir, f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestChartBindingSecret: saml.bindingSecret reaches the container as the
// env var TFGATE_BINDING_SECRET from the named Secret and key, and the
// config reads it from there; without it neither appears.
func TestChartBindingSecret(t *testing.T) {
	f := filepath.Join(t.TempDir(), "values.yaml")
	vals := "sessions: {store: redis}\nredis: {addrs: [\"redis:6379\"]}\nreplicaCount: 3\n" +
		"saml: {baseURL: \"https://serving.example.com\", idps: [{name: corp, metadata_url: \"https://idp.example.com/md\"}], bindingSecret: {name: tfgate-binding, key: sk}}\n"
	if err := os.WriteFile(f, []byte(vals), 0o600); err != nil {
		t.Fatal(err)
	}
	c := decodeChart(t, f)
	var found bool
	for _, e := range c.deploy.Spec.Template.Spec.Containers[0].Env {
		if e.Name != "TFGATE_BINDING_SECRET" {
			continue
		}
		found = true
		if r := e.ValueFrom; e.Value != "" || r == nil || r.SecretKeyRef == nil || r.SecretKeyRef.Name != "tfgate-binding" || r.SecretKeyRef.Key != "sk" {
			t.Errorf("TFGATE_BINDING_SECRET = %+v, want from Secret tfgate-binding key sk", e)
		}
	}
	if !found {
		t.Errorf("no TFGATE_BINDING_SECRET in the container's env %+v", c.deploy.Spec.Template.Spec.Containers[0].Env)
	}
	if !strings.Contains(c.config, `binding_secret: ${TFGATE_BINDING_SECRET}`) {
		t.Errorf("the config does not read the env var:\n%s", c.config)
	}
	def := decodeChart(t, "")
	for _, e := range def.deploy.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "TFGATE_BINDING_SECRET" {
			t.Errorf("TFGATE_BINDING_SECRET set without saml.bindingSecret")
		}
	}
	if strings.Contains(def.config, "binding_secret") {
		t.Errorf("binding_secret in the default config:\n%s", def.config)
	}
}

func metav1Selector(s any) (labels.Selector, error) {
	return labelSelector(s)
}
