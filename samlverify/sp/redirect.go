package sp

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"

	"github.com/beevik/etree"
)

// SigAlgRSASHA256 is the redirect-binding SigAlg of signed requests.
const SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

// maxRelayState is the RelayState limit of SAML bindings §3.4.3.
const maxRelayState = 80

// flateWriters reuses DEFLATE compressors: each holds about 800 KB of
// tables, and allocating one per /saml/login made an anonymous login flood
// thrash the garbage collector (the soak's stalls).
var flateWriters sync.Pool

// redirectURL encodes msg for the HTTP-Redirect binding (SAML bindings
// §3.4.4.1: DEFLATE, base64, URL-encoding) as param ("SAMLRequest") on
// dest, with relayState when not empty, and signs it with key when key is
// not nil. The signature covers the URL-encoded parameters in the order the
// binding fixes, exactly as they appear in the URL.
func redirectURL(dest, param string, msg *etree.Element, relayState string, key *rsa.PrivateKey) (string, error) {
	doc := etree.NewDocument()
	doc.SetRoot(msg)
	raw, err := doc.WriteToBytes()
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	fw, _ := flateWriters.Get().(*flate.Writer)
	if fw == nil {
		if fw, err = flate.NewWriter(&buf, flate.BestCompression); err != nil {
			return "", err
		}
	} else {
		fw.Reset(&buf)
	}
	if _, err := fw.Write(raw); err != nil {
		return "", err
	}
	if err := fw.Close(); err != nil {
		return "", err
	}
	flateWriters.Put(fw)
	q := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	if key != nil {
		q += "&SigAlg=" + url.QueryEscape(SigAlgRSASHA256)
		sum := sha256.Sum256([]byte(q))
		sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
		if err != nil {
			return "", err
		}
		q += "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	}
	sep := "?"
	if strings.Contains(dest, "?") {
		sep = "&"
	}
	return dest + sep + q, nil
}
