package samlverify

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// verifyMetadataSignature returns the element to read metadata from: root
// itself when no pins are configured, else the element goxmldsig returns
// after verifying root's signature against the pins.
func verifyMetadataSignature(root *etree.Element, opts MetadataOptions) (*etree.Element, bool, error) {
	if len(opts.PinnedCerts) == 0 && len(opts.PinnedSHA256) == 0 {
		return root, false, nil
	}
	pins, err := parseFingerprints(opts.PinnedSHA256)
	if err != nil {
		return nil, false, err
	}
	if !hasSignature(root) {
		return nil, false, failAdvice(ReasonSignatureMissing, "metadata is not signed but pins are configured", adviceMetadataUnsigned)
	}
	certs := append([]*x509.Certificate(nil), opts.PinnedCerts...)
	if sig := firstChild(root, nsDSig, "Signature"); sig != nil {
		if embedded, err := keyInfoCert(sig); err == nil && embedded != nil && pins[sha256.Sum256(embedded.Raw)] {
			certs = append(certs, embedded)
		}
	}
	now := opts.Clock.Now()
	el, err := verifySigned(root, sigPolicy{certs: certs, allowSHA1: opts.AllowSHA1, now: now, clock: opts.Clock})
	if err != nil {
		return nil, false, err
	}
	return el, true, nil
}

// parseFingerprints parses hex SHA-256 fingerprints; colons, spaces and
// case are ignored.
func parseFingerprints(fps []string) (map[[32]byte]bool, error) {
	out := make(map[[32]byte]bool, len(fps))
	for _, fp := range fps {
		s := strings.NewReplacer(":", "", " ", "").Replace(strings.ToLower(fp))
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != sha256.Size {
			return nil, errors.New("samlverify: a pinned SHA-256 fingerprint is not 64 hex digits")
		}
		out[[32]byte(b)] = true
	}
	return out, nil
}

// Fingerprint returns the SHA-256 fingerprint of cert as colon-separated
// upper-case hex, the form PinnedSHA256 accepts and openssl prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// xsDuration matches an xs:duration such as P1D, PT6H or P0Y0M1DT2H3M4.5S.
var xsDuration = regexp.MustCompile(`^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// parseXSDuration parses a non-negative xs:duration. Years count as 365
// days and months as 30, which only matters for cache lifetimes, where
// shorter is safe.
func parseXSDuration(s string) (time.Duration, error) {
	m := xsDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || strings.HasSuffix(s, "T") {
		return 0, failf(ReasonMalformed, "bad cacheDuration")
	}
	units := []time.Duration{365 * 24 * time.Hour, 30 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second}
	var total time.Duration
	for i, u := range units {
		if m[i+1] == "" {
			continue
		}
		f, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || f > 1e6 {
			return 0, failf(ReasonMalformed, "bad cacheDuration")
		}
		total += time.Duration(f * float64(u))
	}
	return total, nil
}
