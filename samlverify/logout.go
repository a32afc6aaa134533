package samlverify

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// IdP-initiated single logout (SAML core §3.7, profiles §4.4): an IdP
// tells the SP, through the user's browser, that a user's IdP session
// ended. The request arrives in the HTTP-Redirect binding (signed in the
// query string, bindings §3.4.4.1) or the HTTP-POST binding (an enveloped
// XML signature, verified exactly as a Response's). Only a signed request
// ends anything.

const (
	// MaxLogoutRequestAge is how long after its IssueInstant (plus skew) a
	// LogoutRequest is accepted, even when its NotOnOrAfter is later or
	// absent. It bounds how long its ID must be remembered against replay.
	MaxLogoutRequestAge = 5 * time.Minute
	// maxInflated caps a redirect-binding message after DEFLATE: a
	// LogoutRequest is about 1 KiB, and a compression bomb must not be
	// inflated further than this.
	maxInflated = 64 << 10
	// maxSessionIndexes caps the SessionIndex elements of one request.
	maxSessionIndexes = 32
	// maxReplyID caps an unverified request ID echoed as InResponseTo.
	maxReplyID = 256
	// logoutDomain separates logout request IDs in the replay cache.
	logoutDomain = "tfgate logout request\x00"
)

// LogoutBinding is the SAML binding a LogoutRequest arrived in, which its
// answer must use too.
type LogoutBinding string

// Bindings of VerifyLogoutRedirect and VerifyLogoutPOST.
const (
	BindingRedirect LogoutBinding = bindingRedirect
	BindingPOST     LogoutBinding = bindingPOST
)

// LogoutRequest is a verified LogoutRequest: which user's sessions, at
// which IdP, the IdP asks to end.
type LogoutRequest struct {
	// ID is the request's ID, the InResponseTo of the answer.
	ID string
	// IdP is the entity ID of the IdP that signed it.
	IdP string
	// NameID and NameIDFormat name the user as the IdP asserted them.
	NameID, NameIDFormat string
	// SessionIndexes are the IdP sessions to end; none means all of the
	// user's sessions from this IdP.
	SessionIndexes []string
	// Binding is the binding it arrived in.
	Binding LogoutBinding
}

// LogoutReply is where an answer to a LogoutRequest can go, as far as it
// is known even when verification fails: IdP is set only when the
// (possibly unverified) Issuer names a configured IdP, so an answer only
// ever goes to an endpoint from that IdP's metadata; InResponseTo is the
// request's ID when it is a plausible one; RelayState is to be echoed.
type LogoutReply struct {
	IdP          *IdP
	InResponseTo string
	RelayState   string
	Binding      LogoutBinding
}

// VerifyLogoutRedirect verifies a LogoutRequest in the HTTP-Redirect
// binding. rawQuery is the request URL's query exactly as it arrived
// (http.Request.URL.RawQuery): the signature covers the parameters in
// their original URL encoding, which decoding and re-encoding would not
// reproduce. destination is this SP's single logout URL, which the
// request's Destination must equal.
//
// The query must carry SAMLRequest, SigAlg and Signature once each (and
// RelayState at most once); SAMLRequest is inflated with a size cap. The
// signature must verify with one of the signing certificates of the IdP
// the Issuer names, by RSA or ECDSA with SHA-256 or better (SHA-1 only
// with Config.AllowSHA1). Then the checks of every LogoutRequest apply
// (see VerifyLogoutPOST). The error is always an *Error.
func (v *Verifier) VerifyLogoutRedirect(ctx context.Context, rawQuery, destination string) (*LogoutRequest, LogoutReply, error) {
	reply := LogoutReply{Binding: BindingRedirect}
	q, err := parseSignedQuery(rawQuery, "SAMLRequest")
	if err != nil {
		return nil, reply, err
	}
	reply.RelayState = q.relayState
	raw, err := decodeBase64(q.message, v.cfg.MaxResponseBytes, base64.StdEncoding)
	if err != nil {
		return nil, reply, err
	}
	if raw, err = inflate(raw); err != nil {
		return nil, reply, err
	}
	root, idp, err := v.parseLogoutRequest(raw, &reply)
	if err != nil {
		return nil, reply, err
	}
	if q.sigAlg == "" || q.signature == "" {
		return nil, reply, failAdvice(ReasonSignatureMissing, "LogoutRequest without a query signature", adviceLogoutUnsigned)
	}
	if err := v.verifyQuerySignature(q, idp.SigningCerts, v.cfg.Clock.Now()); err != nil {
		return nil, reply, err
	}
	// The query signature covers the whole message, so root is authentic.
	return v.checkLogoutRequest(ctx, root, destination, reply)
}

// VerifyLogoutPOST verifies a LogoutRequest in the HTTP-POST binding:
// samlRequest is the SAMLRequest form value, relayState the RelayState
// (echoed in the reply only). The request must carry an enveloped
// signature by the IdP its Issuer names, verified as a Response's is;
// only the element the signature validation returns is read.
//
// Checks on every LogoutRequest: SAML 2.0; an ID; an Issuer that is the
// IdP; a Destination equal to destination; an IssueInstant not in the
// future and at most MaxLogoutRequestAge old, and NotOnOrAfter (when
// present) not passed, each with Config.Skew; a plain NameID; at most 32
// SessionIndexes. Last, its ID must not have been seen from this IdP
// before (the ReplayCache remembers it as long as it could be accepted).
func (v *Verifier) VerifyLogoutPOST(ctx context.Context, samlRequest, relayState, destination string) (*LogoutRequest, LogoutReply, error) {
	reply := LogoutReply{Binding: BindingPOST, RelayState: relayState}
	raw, err := decodeBase64(samlRequest, v.cfg.MaxResponseBytes, base64.StdEncoding)
	if err != nil {
		return nil, reply, err
	}
	root, idp, err := v.parseLogoutRequest(raw, &reply)
	if err != nil {
		return nil, reply, err
	}
	if !hasSignature(root) {
		return nil, reply, failAdvice(ReasonSignatureMissing, "LogoutRequest without a signature", adviceLogoutUnsigned)
	}
	signed, err := verifySigned(root, v.sigPolicy(idp, v.cfg.Clock.Now()))
	if err != nil {
		return nil, reply, err
	}
	return v.checkLogoutRequest(ctx, signed, destination, reply)
}

// parseLogoutRequest parses raw safely, checks that it is a
// LogoutRequest, fills reply from its unverified ID and Issuer, and
// returns it with the IdP the Issuer names, whose keys must then verify
// it.
func (v *Verifier) parseLogoutRequest(raw []byte, reply *LogoutReply) (*etree.Element, *IdP, error) {
	doc, err := parseXML(raw)
	if err != nil {
		return nil, nil, err
	}
	root := doc.Root()
	if !is(root, nsProtocol, "LogoutRequest") {
		return nil, nil, failAdvice(ReasonMalformed, "root is not a LogoutRequest", adviceNotLogoutRequest)
	}
	if id := attr(root, "ID"); isPlausibleID(id) {
		reply.InResponseTo = id
	}
	name := issuerOf(root)
	if name == "" {
		return nil, nil, failf(ReasonWrongIssuer, "LogoutRequest without Issuer")
	}
	idp, ok := v.idps.LookupIdP(name)
	if !ok {
		return nil, nil, failf(ReasonUnknownIdP, "LogoutRequest Issuer names no configured IdP")
	}
	reply.IdP = idp
	return root, idp, nil
}

// isPlausibleID reports whether s may be echoed as InResponseTo: a short
// xs:ID of letters, digits and "_-.".
func isPlausibleID(s string) bool {
	if s == "" || len(s) > maxReplyID {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// checkLogoutRequest runs the checks on el, a LogoutRequest authentic
// for reply.IdP, and records its ID.
func (v *Verifier) checkLogoutRequest(ctx context.Context, el *etree.Element, destination string, reply LogoutReply) (*LogoutRequest, LogoutReply, error) {
	idp := reply.IdP
	req, until, err := v.readLogoutRequest(el, idp, destination)
	if err != nil {
		return nil, reply, err
	}
	req.Binding = reply.Binding
	seen, err := v.replay.SeenBefore(ctx, logoutDomain+idp.EntityID+"\x00"+req.ID, until)
	if err != nil {
		return nil, reply, fail(ReasonUnavailable, err)
	}
	if seen {
		return nil, reply, failAdvice(ReasonReplay, "LogoutRequest ID seen before", adviceLogoutReplay)
	}
	return req, reply, nil
}

// readLogoutRequest runs the stateless checks and returns the request and
// until when it could be accepted.
func (v *Verifier) readLogoutRequest(el *etree.Element, idp *IdP, destination string) (*LogoutRequest, time.Time, error) {
	now := v.cfg.Clock.Now()
	req := &LogoutRequest{ID: attr(el, "ID"), IdP: idp.EntityID}
	if attr(el, "Version") != "2.0" {
		return nil, time.Time{}, failf(ReasonUnsupported, "LogoutRequest version is not 2.0")
	}
	if req.ID == "" {
		return nil, time.Time{}, failf(ReasonMalformed, "LogoutRequest without ID")
	}
	if err := checkIssuer(el, idp, true); err != nil {
		return nil, time.Time{}, err
	}
	if destination == "" || attr(el, "Destination") != destination {
		return nil, time.Time{}, failAdvice(ReasonWrongDestination, "Destination is not the single logout URL", adviceLogoutDestination)
	}
	until, err := v.logoutWindow(el, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	var id Identity
	if err := readNameID(el, &id); err != nil {
		return nil, time.Time{}, err
	}
	req.NameID, req.NameIDFormat = id.NameID, id.NameIDFormat
	sis := children(el, nsProtocol, "SessionIndex")
	if len(sis) > maxSessionIndexes {
		return nil, time.Time{}, failf(ReasonMalformed, "too many SessionIndex elements")
	}
	for _, si := range sis {
		s, err := textOf(si)
		if err != nil {
			return nil, time.Time{}, err
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, time.Time{}, failf(ReasonMalformed, "empty SessionIndex")
		}
		req.SessionIndexes = append(req.SessionIndexes, s)
	}
	return req, until, nil
}

// logoutWindow checks IssueInstant and NotOnOrAfter and returns until
// when the request could be accepted (plus skew), how long its ID is
// remembered.
func (v *Verifier) logoutWindow(el *etree.Element, now time.Time) (time.Time, error) {
	issued, err := timeAttr(el, "IssueInstant")
	if err != nil {
		return time.Time{}, err
	}
	if issued.IsZero() {
		return time.Time{}, failf(ReasonMalformed, "LogoutRequest without IssueInstant")
	}
	notOnOrAfter, err := timeAttr(el, "NotOnOrAfter")
	if err != nil {
		return time.Time{}, err
	}
	if issued.After(now.Add(v.cfg.Skew)) {
		return time.Time{}, failf(ReasonNotYetValid, "LogoutRequest issued in the future")
	}
	end := earliest(issued.Add(MaxLogoutRequestAge), notOnOrAfter)
	if err := v.checkWindow(time.Time{}, end, now); err != nil {
		return time.Time{}, failAdvice(ReasonExpired, "LogoutRequest too old or past its NotOnOrAfter", adviceLogoutExpired)
	}
	return end.Add(v.cfg.Skew), nil
}

// signedQuery is a redirect-binding query: the raw (still URL-encoded)
// values the signature covers, and the decoded ones.
type signedQuery struct {
	param                string // "SAMLRequest" or "SAMLResponse"
	rawMessage, rawRelay string
	rawSigAlg            string
	hasRelay             bool
	message, relayState  string
	sigAlg, signature    string
}

// parseSignedQuery splits rawQuery without re-encoding anything. Each of
// param, RelayState, SigAlg and Signature may appear once; other
// parameters are ignored (the binding allows them, and they are not
// signed).
func parseSignedQuery(rawQuery, param string) (signedQuery, error) {
	q := signedQuery{param: param}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rawQuery, "&") {
		k, val, _ := strings.Cut(part, "=")
		switch k {
		case param, "RelayState", "SigAlg", "Signature":
		default:
			continue
		}
		if seen[k] {
			return q, failf(ReasonMalformed, "repeated "+k+" query parameter")
		}
		seen[k] = true
		dec, err := url.QueryUnescape(val)
		if err != nil {
			return q, failf(ReasonMalformed, "query parameter is not URL-encoded")
		}
		switch k {
		case param:
			q.rawMessage, q.message = val, dec
		case "RelayState":
			q.rawRelay, q.relayState, q.hasRelay = val, dec, true
		case "SigAlg":
			q.rawSigAlg, q.sigAlg = val, dec
		case "Signature":
			q.signature = dec
		}
	}
	if q.message == "" {
		return q, failf(ReasonMalformed, "no "+param+" query parameter")
	}
	return q, nil
}

// signedOctets returns what the query signature covers (bindings
// §3.4.4.1): the parameters in their fixed order, as they arrived.
func (q signedQuery) signedOctets() []byte {
	s := q.param + "=" + q.rawMessage
	if q.hasRelay {
		s += "&RelayState=" + q.rawRelay
	}
	return []byte(s + "&SigAlg=" + q.rawSigAlg)
}

// querySigAlgs are the SigAlg values accepted, with their hash; isSHA1
// marks those refused unless AllowSHA1.
var querySigAlgs = map[string]struct {
	hash   crypto.Hash
	ecdsa  bool
	isSHA1 bool
}{
	dsig.RSASHA256SignatureMethod:   {crypto.SHA256, false, false},
	dsig.RSASHA384SignatureMethod:   {crypto.SHA384, false, false},
	dsig.RSASHA512SignatureMethod:   {crypto.SHA512, false, false},
	dsig.ECDSASHA256SignatureMethod: {crypto.SHA256, true, false},
	dsig.ECDSASHA384SignatureMethod: {crypto.SHA384, true, false},
	dsig.ECDSASHA512SignatureMethod: {crypto.SHA512, true, false},
	dsig.RSASHA1SignatureMethod:     {crypto.SHA1, false, true},
	dsig.ECDSASHA1SignatureMethod:   {crypto.SHA1, true, true},
}

// verifyQuerySignature checks q's signature with one of certs that is
// valid at now.
func (v *Verifier) verifyQuerySignature(q signedQuery, certs []*x509.Certificate, now time.Time) error {
	alg, ok := querySigAlgs[q.sigAlg]
	switch {
	case !ok:
		return failf(ReasonUnsupportedAlgorithm, "SigAlg not allowed")
	case alg.isSHA1 && !v.cfg.AllowSHA1:
		return failf(ReasonSHA1Disabled, "SHA-1 SigAlg")
	}
	sig, err := base64.StdEncoding.DecodeString(q.signature)
	if err != nil || len(sig) == 0 {
		return failf(ReasonSignatureInvalid, "Signature is not base64")
	}
	if len(certs) == 0 {
		return failf(ReasonUntrustedKey, "IdP has no signing certificate")
	}
	h := alg.hash.New()
	h.Write(q.signedOctets())
	digest := h.Sum(nil)
	valid := false
	for _, c := range certs {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			continue
		}
		valid = true
		if verifyDigest(c.PublicKey, alg.hash, alg.ecdsa, digest, sig) {
			return nil
		}
	}
	if !valid {
		return failf(ReasonCertNotValid, "signing certificate outside its validity period")
	}
	return failf(ReasonSignatureInvalid, "query signature does not verify")
}

// verifyDigest verifies sig over digest with pub: RSA PKCS#1 v1.5, or
// ECDSA as XML Signature encodes it (r||s, RFC 4050) or in ASN.1.
func verifyDigest(pub crypto.PublicKey, h crypto.Hash, isECDSA bool, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return !isECDSA && rsa.VerifyPKCS1v15(k, h, digest, sig) == nil
	case *ecdsa.PublicKey:
		if !isECDSA {
			return false
		}
		if n := len(sig); n%2 == 0 {
			r, s := new(big.Int).SetBytes(sig[:n/2]), new(big.Int).SetBytes(sig[n/2:])
			if ecdsa.Verify(k, digest, r, s) {
				return true
			}
		}
		return ecdsa.VerifyASN1(k, digest, sig)
	}
	return false
}

// inflate decompresses a redirect-binding message (raw DEFLATE), refusing
// one that inflates beyond maxInflated.
func inflate(raw []byte) ([]byte, error) {
	r := flate.NewReader(bytes.NewReader(raw))
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return nil, failf(ReasonMalformed, "message is not DEFLATE-compressed")
	}
	if len(out) > maxInflated {
		return nil, failf(ReasonTooLarge, "message inflates beyond the cap")
	}
	if len(out) == 0 {
		return nil, failf(ReasonMalformed, "message inflates to nothing")
	}
	return out, nil
}
