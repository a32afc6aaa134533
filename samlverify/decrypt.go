package samlverify

import (
	"errors"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// Content-encryption algorithms accepted for an EncryptedAssertion; the
// value says whether the mode is CBC, which has no integrity protection.
// Key transport is whatever crewjam/saml/xmlenc registers, which is RSA-OAEP
// only (rsa-oaep-mgf1p and XML Encryption 1.1 rsa-oaep); PKCS#1 v1.5 key
// transport is open to Bleichenbacher's attack and is not registered.
var contentAlgorithms = map[string]bool{
	"http://www.w3.org/2009/xmlenc11#aes128-gcm":  false,
	"http://www.w3.org/2009/xmlenc11#aes192-gcm":  false,
	"http://www.w3.org/2009/xmlenc11#aes256-gcm":  false,
	"http://www.w3.org/2001/04/xmlenc#aes128-cbc": true,
	"http://www.w3.org/2001/04/xmlenc#aes192-cbc": true,
	"http://www.w3.org/2001/04/xmlenc#aes256-cbc": true,
}

// errDecrypt is the one cause every decryption failure carries, so that
// neither the error nor its cause tells a padding failure from a bad key or
// malformed plaintext.
var errDecrypt = errors.New("EncryptedAssertion could not be decrypted")

// decryptAssertion decrypts enc, an EncryptedAssertion, and returns the
// Assertion inside it as the root of a new document that passed the same
// safety checks as the Response. authenticated says whether a verified
// signature covers enc; CBC ciphertext is only decrypted when it does,
// unless Config.AllowUnsignedResponseCBC.
func (v *Verifier) decryptAssertion(enc *etree.Element, authenticated bool) (*etree.Element, error) {
	if v.cfg.DecryptionKey == nil {
		return nil, failAdvice(ReasonDecryptFailed, "encrypted assertion but no decryption key configured", adviceNoDecryptionKey)
	}
	data, err := requiredChild(enc, nsXEnc, "EncryptedData")
	if err != nil {
		return nil, err
	}
	if err := v.checkContentAlgorithm(data, authenticated); err != nil {
		return nil, err
	}
	plain, err := v.decryptData(enc, data)
	if err != nil {
		return nil, fail(ReasonDecryptFailed, errDecrypt)
	}
	doc, err := parseXML(plain)
	if err != nil {
		return nil, fail(ReasonDecryptFailed, errDecrypt)
	}
	if !is(doc.Root(), nsAssertion, "Assertion") {
		return nil, fail(ReasonDecryptFailed, errDecrypt)
	}
	if countDescendants(doc.Root(), nsAssertion, "Assertion", "EncryptedAssertion") != 1 {
		return nil, failf(ReasonMultipleAssertions, "encrypted assertion holds another assertion")
	}
	return doc.Root(), nil
}

// checkContentAlgorithm refuses algorithms outside contentAlgorithms, and
// CBC when nothing authenticated the ciphertext (saml-core errata E93).
func (v *Verifier) checkContentAlgorithm(data *etree.Element, authenticated bool) error {
	m, err := requiredChild(data, nsXEnc, "EncryptionMethod")
	if err != nil {
		return fail(ReasonDecryptFailed, errDecrypt)
	}
	cbc, ok := contentAlgorithms[attr(m, "Algorithm")]
	if !ok {
		return failAdvice(ReasonUnsupportedAlgorithm, "content encryption algorithm not allowed", adviceContentAlgorithm)
	}
	if cbc && !authenticated && !v.cfg.AllowUnsignedResponseCBC {
		return failAdvice(ReasonSignatureMissing, "AES-CBC assertion in an unsigned Response", adviceCBCUnsigned)
	}
	return nil
}

// decryptData unwraps the content key from an EncryptedKey, in the
// EncryptedData's KeyInfo or beside the EncryptedData (both are common),
// and decrypts the EncryptedData with it.
func (v *Verifier) decryptData(enc, data *etree.Element) ([]byte, error) {
	var keys []*etree.Element
	if ki, _ := optionalChild(data, nsDSig, "KeyInfo"); ki != nil {
		keys = children(ki, nsXEnc, "EncryptedKey")
	}
	keys = append(keys, children(enc, nsXEnc, "EncryptedKey")...)
	if len(keys) == 0 {
		return nil, errDecrypt
	}
	// Hand the block cipher an EncryptedData without the EncryptedKey, now
	// that the content key is known; otherwise xmlenc would unwrap it again
	// with the content key as the RSA key.
	bare := data.Copy()
	if ki, _ := optionalChild(bare, nsDSig, "KeyInfo"); ki != nil {
		bare.RemoveChild(ki)
	}
	for _, k := range keys {
		cek, err := xmlenc.Decrypt(v.cfg.DecryptionKey, k)
		if err != nil {
			continue
		}
		return xmlenc.Decrypt(cek, bare)
	}
	return nil, errDecrypt
}
