package simplesamlidp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Debian paths this package uses.
const (
	phpPath = "/usr/bin/php"
	wwwDir  = "/usr/share/simplesamlphp/www"
)

// ErrUnavailable is returned by Available when SimpleSAMLphp or PHP's
// extensions it needs are missing.
var ErrUnavailable = errors.New("simplesamlidp: SimpleSAMLphp is not installed (apt-get install -y simplesamlphp php-cli php-xml php-mbstring)")

var available = sync.OnceValue(func() error {
	if _, err := os.Stat(filepath.Join(wwwDir, "saml2/idp/SSOService.php")); err != nil {
		return fmt.Errorf("%w (%v)", ErrUnavailable, err)
	}
	out, err := exec.Command(phpPath, "-r", `foreach (["dom","mbstring","openssl"] as $e) { if (!extension_loaded($e)) { echo $e, "\n"; exit(1); } }`).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w (php: %v; missing extension %s)", ErrUnavailable, err, strings.TrimSpace(string(out)))
	}
	return nil
})

// Available reports whether SimpleSAMLphp and the PHP extensions it needs
// are installed. Its error says how to install them.
func Available() error { return available() }

// User is one account of the static user source.
type User struct {
	// Name and Password are what the sign-in page takes. Name is also the
	// uid attribute, and so the NameID.
	Name, Password string
	// Attributes are sent besides uid, under these names (before any
	// name2oid mapping): for example mail, displayName, isMemberOf.
	Attributes map[string][]string
}

// Config describes the SP that SimpleSAMLphp serves and how it answers.
type Config struct {
	// SPEntityID, ACSURL: the SP. Required.
	SPEntityID, ACSURL string
	// SLOURL is the SP's single logout endpoint (HTTP-Redirect). default:
	// none, and the IdP does not send LogoutRequests to the SP.
	SLOURL string
	// SPCert is the SP's certificate: it checks signed AuthnRequests and
	// LogoutRequests/Responses, and encrypts assertions. Required when
	// EncryptAssertion or SPSignsRequests is set.
	SPCert *x509.Certificate
	// SPSignsRequests makes the IdP require signed AuthnRequests and
	// logout messages from the SP (validate.authnrequest, validate.logout).
	SPSignsRequests bool
	// UnsignedResponse and UnsignedAssertion turn off the signature that
	// SimpleSAMLphp puts on the Response and on the Assertion by default.
	UnsignedResponse, UnsignedAssertion bool
	// EncryptAssertion encrypts the assertion to SPCert (RSA-OAEP with
	// AES-128-CBC: the only choice SimpleSAMLphp 1.19 offers).
	EncryptAssertion bool
	// AttributeNameFormat "uri" maps attribute names to urn:oid: names
	// (core:AttributeMap name2oid) with NameFormat uri. default: "basic",
	// the names as given.
	AttributeNameFormat string
	// Users of the static user source. default: alice (groups
	// ml-engineers and resnet-users under isMemberOf) and dave (none).
	Users []User
}

// DefaultUsers are the accounts New gives an IdP whose Config has none.
func DefaultUsers() []User {
	return []User{
		{Name: "alice", Password: "alice-password", Attributes: map[string][]string{
			"mail":        {"alice@example.com"},
			"displayName": {"Alice Engineer"},
			"isMemberOf":  {"ml-engineers", "resnet-users"},
		}},
		{Name: "dave", Password: "dave-password", Attributes: map[string][]string{
			"mail":        {"dave@example.com"},
			"displayName": {"Dave NoGroups"},
		}},
	}
}

// IdP is a running SimpleSAMLphp IdP.
type IdP struct {
	cfg     Config
	base    string // http://127.0.0.1:PORT/
	cert    *x509.Certificate
	key     *rsa.PrivateKey
	dir     string
	tlsSrv  *httptest.Server
	logFile string
}

// New writes SimpleSAMLphp's configuration for cfg into a temporary
// directory and starts it under PHP's built-in web server on loopback. It
// fails the test if SimpleSAMLphp is not installed or does not come up.
func New(tb testing.TB, cfg Config) *IdP {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Fatal(err)
	}
	if cfg.SPEntityID == "" || cfg.ACSURL == "" {
		tb.Fatal("simplesamlidp: Config needs SPEntityID and ACSURL")
	}
	if (cfg.EncryptAssertion || cfg.SPSignsRequests) && cfg.SPCert == nil {
		tb.Fatal("simplesamlidp: EncryptAssertion and SPSignsRequests need SPCert")
	}
	if len(cfg.Users) == 0 {
		cfg.Users = DefaultUsers()
	}
	key, cert, err := newKeyPair()
	if err != nil {
		tb.Fatal(err)
	}
	idp := &IdP{cfg: cfg, key: key, cert: cert, dir: tb.TempDir()}
	// PHP's server cannot be handed a listener, so pick a free port and
	// try again should another process take it first.
	var lastErr error
	started := false
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatal(err)
		}
		idp.base = fmt.Sprintf("http://127.0.0.1:%d/", port)
		if err := idp.writeConfig(); err != nil {
			tb.Fatal(err)
		}
		stop, err := idp.start(port)
		if err == nil {
			tb.Cleanup(stop)
			started = true
			break
		}
		lastErr = err
	}
	if !started {
		tb.Fatalf("simplesamlidp: %v", lastErr)
	}
	// A TLS front for the metadata URL, like an IdP's real one.
	target, _ := url.Parse(idp.base)
	idp.tlsSrv = httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	tb.Cleanup(idp.tlsSrv.Close)
	return idp
}

// start runs php -S on port and waits until the IdP's metadata answers.
func (idp *IdP) start(port int) (stop func(), err error) {
	logf, err := os.Create(filepath.Join(idp.dir, "php-server.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(phpPath, "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", wwwDir)
	cmd.Dir = wwwDir
	cmd.Env = append(os.Environ(), "SIMPLESAMLPHP_CONFIG_DIR="+filepath.Join(idp.dir, "config"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop = func() {
		_ = cmd.Process.Kill()
		<-done
		logf.Close()
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("php -S exited: %s", bytes.TrimSpace(out))
		case <-time.After(50 * time.Millisecond):
		}
		if idp.up() {
			return stop, nil
		}
	}
	stop()
	return nil, fmt.Errorf("php -S on port %d did not serve metadata within 15s; see %s", port, logf.Name())
}

// up reports whether the IdP serves its metadata.
func (idp *IdP) up() bool {
	resp, err := http.Get(idp.base + "saml2/idp/metadata.php")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == 200 && bytes.Contains(body, []byte("EntityDescriptor"))
}

// BaseURL is the IdP's base URL, with a trailing slash.
func (idp *IdP) BaseURL() string { return idp.base }

// EntityID is the hosted IdP's entity ID (its metadata URL, as
// SimpleSAMLphp names IdPs by default).
func (idp *IdP) EntityID() string { return idp.base + "saml2/idp/metadata.php" }

// MetadataURL serves the IdP's metadata over plain HTTP.
func (idp *IdP) MetadataURL() string { return idp.EntityID() }

// HTTPSMetadataURL serves the same metadata through a TLS front; use
// HTTPSClient to fetch it.
func (idp *IdP) HTTPSMetadataURL() string { return idp.tlsSrv.URL + "/saml2/idp/metadata.php" }

// HTTPSClient trusts the TLS front of HTTPSMetadataURL.
func (idp *IdP) HTTPSClient() *http.Client { return idp.tlsSrv.Client() }

// SSOURL is the HTTP-Redirect SingleSignOnService.
func (idp *IdP) SSOURL() string { return idp.base + "saml2/idp/SSOService.php" }

// SLOURL is the HTTP-Redirect SingleLogoutService.
func (idp *IdP) SLOURL() string { return idp.base + "saml2/idp/SingleLogoutService.php" }

// Certificate is the IdP's signing certificate.
func (idp *IdP) Certificate() *x509.Certificate { return idp.cert }

// Metadata fetches the IdP's metadata document.
func (idp *IdP) Metadata(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, idp.MetadataURL(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("simplesamlidp: metadata: status %d", resp.StatusCode)
	}
	return body, nil
}

// Log returns SimpleSAMLphp's own log so far, for test failure messages.
func (idp *IdP) Log() string {
	b, _ := os.ReadFile(filepath.Join(idp.dir, "log", "simplesamlphp.log"))
	return string(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// newKeyPair makes the IdP's RSA 2048 key and a self-signed certificate.
func newKeyPair() (*rsa.PrivateKey, *x509.Certificate, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		Subject:               pkix.Name{CommonName: "SimpleSAMLphp interop IdP (tests only)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

// writeConfig writes config/, metadata/ and cert/ under idp.dir.
func (idp *IdP) writeConfig() error {
	for _, d := range []string{"config", "metadata", "cert", "log", "tmp", "data"} {
		if err := os.MkdirAll(filepath.Join(idp.dir, d), 0o700); err != nil {
			return err
		}
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(idp.key)})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: idp.cert.Raw})
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	files := map[string]string{
		"cert/idp.pem":                   string(keyPEM),
		"cert/idp.crt":                   string(certPEM),
		"config/config.php":              idp.configPHP(hex.EncodeToString(secret)),
		"config/authsources.php":         idp.authsourcesPHP(),
		"metadata/saml20-idp-hosted.php": idp.idpHostedPHP(),
		"metadata/saml20-sp-remote.php":  idp.spRemotePHP(),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(idp.dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (idp *IdP) configPHP(salt string) string {
	d := idp.dir
	// The SP's host may be a ReturnTo (SingleLogoutService.php?ReturnTo=,
	// IdP-initiated logout); SimpleSAMLphp refuses other hosts.
	spHost := ""
	if u, err := url.Parse(idp.cfg.ACSURL); err == nil {
		spHost = u.Host
	}
	return "<?php\n$config = " + phpArray([]kv{
		{"trusted.url.domains", []any{spHost}},
		{"baseurlpath", idp.base},
		{"certdir", d + "/cert/"},
		{"loggingdir", d + "/log/"},
		{"datadir", d + "/data/"},
		{"tempdir", d + "/tmp/"},
		{"metadatadir", d + "/metadata/"},
		{"metadata.sources", []any{[]kv{{"type", "flatfile"}, {"directory", d + "/metadata/"}}}},
		{"technicalcontact_name", "tfgate tests"},
		{"technicalcontact_email", "tests@example.org"},
		{"secretsalt", salt},
		{"auth.adminpassword", salt + "-admin"},
		{"admin.protectindexpage", true},
		{"admin.protectmetadata", false},
		{"timezone", "UTC"},
		{"logging.level", raw("SimpleSAML\\Logger::DEBUG")},
		{"logging.handler", "file"},
		{"logging.logfile", "simplesamlphp.log"},
		{"enable.saml20-idp", true},
		{"module.enable", []kv{{"exampleauth", true}, {"core", true}, {"saml", true}}},
		{"store.type", "phpsession"},
		{"session.cookie.secure", false},
		{"session.phpsession.savepath", d + "/tmp"},
		{"session.cookie.name", "SSPSESSID"},
		{"language.default", "en"},
		{"showerrors", true},
		// Debian keeps the attribute maps under /etc, not beside the code.
		{"attributenamemapdir", "/etc/simplesamlphp/attributemap/"},
	}) + ";\n"
}

func (idp *IdP) authsourcesPHP() string {
	users := []kv{}
	for _, u := range idp.cfg.Users {
		attrs := []kv{{"uid", []any{u.Name}}}
		names := make([]string, 0, len(u.Attributes))
		for n := range u.Attributes {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			vals := make([]any, len(u.Attributes[n]))
			for i, v := range u.Attributes[n] {
				vals[i] = v
			}
			attrs = append(attrs, kv{n, vals})
		}
		users = append(users, kv{u.Name + ":" + u.Password, attrs})
	}
	return "<?php\n$config = " + phpArray([]kv{
		{"admin", []any{"core:AdminPassword"}},
		{"tfgate-users", append([]kv{{"0", "exampleauth:UserPass"}}, users...)},
	}) + ";\n"
}

func (idp *IdP) idpHostedPHP() string {
	authproc := []kv{
		{"10", []kv{{"class", "saml:AttributeNameID"}, {"attribute", "uid"},
			{"Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"}}},
	}
	if idp.cfg.AttributeNameFormat == "uri" {
		authproc = append(authproc, kv{"50", []kv{{"class", "core:AttributeMap"}, {"0", "name2oid"}}})
	}
	return "<?php\n$metadata[" + phpString(idp.EntityID()) + "] = " + phpArray([]kv{
		{"host", "__DEFAULT__"},
		{"privatekey", "idp.pem"},
		{"certificate", "idp.crt"},
		{"auth", "tfgate-users"},
		{"signature.algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"},
		{"NameIDFormat", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"},
		{"authproc", authproc},
	}) + ";\n"
}

func (idp *IdP) spRemotePHP() string {
	c := idp.cfg
	sp := []kv{
		{"AssertionConsumerService", []any{[]kv{
			{"Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"}, {"Location", c.ACSURL}, {"index", 0}}}},
		{"NameIDFormat", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"},
		{"saml20.sign.response", !c.UnsignedResponse},
		{"saml20.sign.assertion", !c.UnsignedAssertion},
		{"assertion.encryption", c.EncryptAssertion},
		{"validate.authnrequest", c.SPSignsRequests},
		{"validate.logout", c.SPSignsRequests},
		{"sign.logout", true},
		{"signature.algorithm", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"},
	}
	if c.SLOURL != "" {
		sp = append(sp, kv{"SingleLogoutService", []any{[]kv{
			{"Binding", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"}, {"Location", c.SLOURL}}}})
	}
	if c.AttributeNameFormat == "uri" {
		sp = append(sp, kv{"attributes.NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"})
	}
	if c.SPCert != nil {
		sp = append(sp, kv{"certData", base64.StdEncoding.EncodeToString(c.SPCert.Raw)})
	}
	return "<?php\n$metadata[" + phpString(c.SPEntityID) + "] = " + phpArray(sp) + ";\n"
}

// kv is one entry of a PHP array literal; a key that is all digits is
// written as an integer key.
type kv struct {
	k string
	v any
}

// raw is PHP source written as it is (a constant).
type raw string

func phpArray(entries []kv) string {
	var b strings.Builder
	b.WriteString("[\n")
	for _, e := range entries {
		if isDigits(e.k) {
			b.WriteString(e.k)
		} else {
			b.WriteString(phpString(e.k))
		}
		b.WriteString(" => ")
		b.WriteString(phpValue(e.v))
		b.WriteString(",\n")
	}
	b.WriteString("]")
	return b.String()
}

func phpValue(v any) string {
	switch v := v.(type) {
	case string:
		return phpString(v)
	case raw:
		return string(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int:
		return fmt.Sprint(v)
	case []kv:
		return phpArray(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = phpValue(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	panic(fmt.Sprintf("simplesamlidp: no PHP literal for %T", v))
}

// phpString is a single-quoted PHP string literal of s.
func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
