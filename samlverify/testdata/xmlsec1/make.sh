#!/bin/sh
# Records SAML Responses signed by xmlsec1 (the signing engine of pysaml2
# and many IdPs), for samlverify's interop tests. Run from this directory;
# it regenerates the key when absent and writes capture_time.txt, which the
# tests pin their clock to. The key is deleted afterwards (never checked in),
# so a rerun makes a new key and re-records every file. Needs the Debian packages xmlsec1 and openssl.
set -eu
if [ ! -f idp.key ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout idp.key -out idp.crt \
		-days 3650 -subj /CN=idp.xmlsec1.test 2>/dev/null
fi
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
later=$(date -u -d '+5 minutes' +%Y-%m-%dT%H:%M:%SZ)
earlier=$(date -u -d '-1 minute' +%Y-%m-%dT%H:%M:%SZ)
echo "$now" > capture_time.txt

sig() { # sig ID: an xmlsec1 signature template referencing #ID
	cat <<SIG
<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#$1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>
SIG
}

response() { # response RESP_SIG ASSERT_SIG: a Response template
	cat <<XML
<?xml version="1.0" encoding="UTF-8"?>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_xmlsec1-resp" Version="2.0" IssueInstant="$now" Destination="https://sp.example.test/saml/acs" InResponseTo="_req-xmlsec1">
  <saml:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">https://idp.xmlsec1.test/metadata</saml:Issuer>
  $1
  <samlp:Status>
    <samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>
  </samlp:Status>
  <saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_xmlsec1-assert" Version="2.0" IssueInstant="$now">
    <saml:Issuer>https://idp.xmlsec1.test/metadata</saml:Issuer>
    $2
    <saml:Subject>
      <saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" NameQualifier="https://idp.xmlsec1.test/metadata">bob-7f3a</saml:NameID>
      <saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">
        <saml:SubjectConfirmationData InResponseTo="_req-xmlsec1" NotOnOrAfter="$later" Recipient="https://sp.example.test/saml/acs"/>
      </saml:SubjectConfirmation>
    </saml:Subject>
    <saml:Conditions NotBefore="$earlier" NotOnOrAfter="$later">
      <saml:AudienceRestriction>
        <saml:Audience>https://sp.example.test/saml/metadata</saml:Audience>
      </saml:AudienceRestriction>
    </saml:Conditions>
    <saml:AuthnStatement AuthnInstant="$earlier" SessionIndex="_xmlsec1-session">
      <saml:AuthnContext>
        <saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>
      </saml:AuthnContext>
    </saml:AuthnStatement>
    <saml:AttributeStatement>
      <saml:Attribute Name="urn:oid:0.9.2342.19200300.100.1.3" FriendlyName="mail" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri">
        <saml:AttributeValue xsi:type="xs:string">bob@example.test</saml:AttributeValue>
      </saml:Attribute>
      <saml:Attribute Name="groups" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">
        <saml:AttributeValue xsi:type="xs:string">ml-readers</saml:AttributeValue>
        <saml:AttributeValue xsi:type="xs:string">ml-writers</saml:AttributeValue>
      </saml:Attribute>
    </saml:AttributeStatement>
  </saml:Assertion>
</samlp:Response>
XML
}

ids="--id-attr:ID urn:oasis:names:tc:SAML:2.0:assertion:Assertion --id-attr:ID urn:oasis:names:tc:SAML:2.0:protocol:Response"
sign() { # sign IN OUT XPATH
	# shellcheck disable=SC2086
	xmlsec1 --sign --privkey-pem idp.key,idp.crt $ids --node-xpath "$3" --output "$2" "$1"
}
assertion_sig='//*[local-name()="Assertion"]/*[local-name()="Signature"]'
response_sig='/*[local-name()="Response"]/*[local-name()="Signature"]'

response "" "$(sig _xmlsec1-assert)" > tmpl.xml
sign tmpl.xml assertion_signed.xml "$assertion_sig"

response "$(sig _xmlsec1-resp)" "" > tmpl.xml
sign tmpl.xml response_signed.xml "$response_sig"

response "$(sig _xmlsec1-resp)" "$(sig _xmlsec1-assert)" > tmpl.xml
sign tmpl.xml half.xml "$assertion_sig"
sign half.xml both_signed.xml "$response_sig"
rm -f tmpl.xml half.xml idp.key
