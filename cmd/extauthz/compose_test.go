package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of docker-compose.yaml the test checks.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       string            `yaml:"build"`
		Command     []string          `yaml:"command"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Expose      []string          `yaml:"expose"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   []string          `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// envoyTopology is what envoy/envoy.yaml says about ports and peers.
type envoyTopology struct {
	listenPorts []int
	clusters    map[string]string // cluster name -> host:port
}

func readEnvoyTopology(t *testing.T) envoyTopology {
	t.Helper()
	data, err := os.ReadFile("../../envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		StaticResources struct {
			Listeners []struct {
				Address struct {
					SocketAddress struct {
						PortValue int `yaml:"port_value"`
					} `yaml:"socket_address"`
				} `yaml:"address"`
			} `yaml:"listeners"`
			Clusters []struct {
				Name           string `yaml:"name"`
				LoadAssignment struct {
					Endpoints []struct {
						LbEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `yaml:"address"`
										PortValue int    `yaml:"port_value"`
									} `yaml:"socket_address"`
								} `yaml:"address"`
							} `yaml:"endpoint"`
						} `yaml:"lb_endpoints"`
					} `yaml:"endpoints"`
				} `yaml:"load_assignment"`
			} `yaml:"clusters"`
		} `yaml:"static_resources"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	top := envoyTopology{clusters: map[string]string{}}
	for _, l := range doc.StaticResources.Listeners {
		top.listenPorts = append(top.listenPorts, l.Address.SocketAddress.PortValue)
	}
	for _, c := range doc.StaticResources.Clusters {
		for _, e := range c.LoadAssignment.Endpoints {
			for _, lb := range e.LbEndpoints {
				sa := lb.Endpoint.Address.SocketAddress
				top.clusters[c.Name] = net.JoinHostPort(sa.Address, strconv.Itoa(sa.PortValue))
			}
		}
	}
	return top
}

// TestComposeAgreesWithEnvoyAndDockerfile checks docker-compose.yaml (which
// no Docker engine here can run) against the other files it relies on:
// service names and ports against envoy.yaml's clusters and listeners,
// mounted files exist, the extauthz config it mounts is valid, and the
// Dockerfile builds extauthz and exposes its ports.
func TestComposeAgreesWithEnvoyAndDockerfile(t *testing.T) {
	data, err := os.ReadFile("../../docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(false)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	for _, name := range []string{"envoy", "extauthz", "redis", "tfserving", "idp"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %q missing", name)
		}
	}
	top := readEnvoyTopology(t)

	// Envoy publishes exactly TF Serving's ports, from its own listeners.
	envoySvc := c.Services["envoy"]
	for _, port := range top.listenPorts {
		p := strconv.Itoa(port)
		if !slices.Contains(envoySvc.Ports, p+":"+p) {
			t.Errorf("envoy listens on %d but compose does not publish %s:%s (ports %v)", port, p, p, envoySvc.Ports)
		}
	}
	checkMount(t, envoySvc.Volumes, "./envoy/envoy.yaml", envoySvc.Command)

	// Every cluster endpoint is a compose service exposing that port.
	for cluster, addr := range top.clusters {
		host, port, _ := net.SplitHostPort(addr)
		svc, ok := c.Services[host]
		if !ok {
			t.Errorf("envoy cluster %s points at %s, which is not a compose service", cluster, addr)
			continue
		}
		if !slices.Contains(svc.Expose, port) {
			t.Errorf("envoy cluster %s needs %s:%s, but the service exposes %v", cluster, host, port, svc.Expose)
		}
	}

	// The extauthz config compose mounts is valid and listens where Envoy calls.
	ext := c.Services["extauthz"]
	if ext.Build != "." {
		t.Errorf("extauthz is built from %q, want the repository's Dockerfile (.)", ext.Build)
	}
	cfgHost := checkMount(t, ext.Volumes, "./deploy/compose/extauthz.yaml", ext.Command)
	cfgData, err := os.ReadFile(filepath.Join("../..", cfgHost))
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) { v, ok := ext.Environment[k]; return v, ok }
	cfg, err := ParseConfig(cfgHost, cfgData, env)
	idpOut := flagValue(c.Services["idp"].Command, "--metadata-out")
	if err != nil {
		// The IdP's metadata is written into the shared volume at start; it
		// cannot exist here, and must be where the idp service writes it.
		cerr, _ := err.(*ConfigError)
		if cerr == nil || len(cerr.Problems) != 1 || !strings.Contains(cerr.Problems[0].String(), strconv.Quote(idpOut)) {
			t.Fatalf("deploy/compose/extauthz.yaml: %v", err)
		}
	}
	if _, port, _ := net.SplitHostPort(cfg.Listen.GRPC); top.clusters["extauthz_grpc"] != "extauthz:"+port {
		t.Errorf("extauthz gRPC listens on %s, envoy calls %s", cfg.Listen.GRPC, top.clusters["extauthz_grpc"])
	}
	if _, port, _ := net.SplitHostPort(cfg.Listen.HTTP); top.clusters["extauthz_http"] != "extauthz:"+port {
		t.Errorf("extauthz HTTP listens on %s, envoy routes /saml/ to %s", cfg.Listen.HTTP, top.clusters["extauthz_http"])
	}
	if len(cfg.SAML.IdPs) != 1 || cfg.SAML.IdPs[0].MetadataFile != idpOut {
		t.Errorf("extauthz reads IdP metadata from %+v, the idp service writes %s", cfg.SAML.IdPs, idpOut)
	}
	if cfg.Sessions.Store != "redis" || cfg.Sessions.Redis.Addrs[0] != "redis:6379" {
		t.Errorf("sessions: %+v", cfg.Sessions)
	}

	// TF Serving listens where Envoy's clusters point.
	tfs := c.Services["tfserving"]
	for flagName, cluster := range map[string]string{"--rest_api_port": "tfserving_rest", "--port": "tfserving_grpc"} {
		if got := "tfserving:" + flagValue(tfs.Command, flagName); got != top.clusters[cluster] {
			t.Errorf("tfserving %s gives %s, envoy cluster %s calls %s", flagName, got, cluster, top.clusters[cluster])
		}
	}
	checkMount(t, tfs.Volumes, "./deploy/compose/models", nil)

	// The Dockerfile builds extauthz and exposes the ports compose and Envoy use.
	df, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "./cmd/extauthz") {
		t.Error("the Dockerfile does not build ./cmd/extauthz")
	}
	exposed := regexp.MustCompile(`(?m)^EXPOSE (.+)$`).FindStringSubmatch(string(df))
	for _, port := range ext.Expose {
		if exposed == nil || !slices.Contains(strings.Fields(exposed[1]), port) {
			t.Errorf("the Dockerfile does not EXPOSE %s", port)
		}
	}
	if !strings.Contains(string(df), "nonroot") {
		t.Error("the image does not run as a non-root user")
	}
	if c.Services["idp"].Image != ext.Image {
		t.Errorf("the idp service runs image %q, not the extauthz image %q", c.Services["idp"].Image, ext.Image)
	}
}

// checkMount finds the volume mounting host (relative to the repository),
// checks the host path exists and, when command is given, that the
// container path appears in it. It returns the host path.
func checkMount(t *testing.T, volumes []string, host string, command []string) string {
	t.Helper()
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if parts[0] != host {
			continue
		}
		if _, err := os.Stat(filepath.Join("../..", host)); err != nil {
			t.Errorf("mounted %s does not exist: %v", host, err)
		}
		if command != nil && !slices.Contains(command, parts[1]) {
			t.Errorf("%s is mounted at %s, which the command %v does not use", host, parts[1], command)
		}
		return host
	}
	t.Errorf("nothing mounts %s (volumes %v)", host, volumes)
	return host
}

// flagValue returns the value of --name=value or "--name value" in args.
func flagValue(args []string, name string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
