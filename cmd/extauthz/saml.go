package main

import "strings"

// SAMLConfig configures the SAML Service Provider.
type SAMLConfig struct {
	// LoginURL is where anonymous browser navigations are redirected, as
	// Envoy's clients see it. Default: "/saml/login".
	LoginURL string `yaml:"login_url"`
}

func defaultSAMLConfig() SAMLConfig {
	return SAMLConfig{LoginURL: "/saml/login"}
}

// validate reports problems with the saml section through bad(path, ...).
func (c *SAMLConfig) validate(bad func(path, format string, args ...any)) {
	if !strings.HasPrefix(c.LoginURL, "/") || strings.HasPrefix(c.LoginURL, "//") {
		bad("saml.login_url", "must be a path starting with /")
	}
}
