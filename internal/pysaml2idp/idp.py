"""A SAML 2.0 IdP built on pysaml2's saml2.server.Server, driven by Go tests.

Usage: python3 idp.py CONFIG.json

Protocol: one JSON object per line. On start the script prints
{"ok": true, "metadata": "<EntityDescriptor .../>"} (or {"ok": false, ...}),
then answers each request line read from stdin with one reply line:

  {"op": "respond", "query": {"SAMLRequest": ..., "RelayState": ...,
   "SigAlg": ..., "Signature": ...}, "user": {...}, "opts": {...,
   "encrypt": "aes128-gcm" | "aes256-gcm" | "aes128-cbc" | absent}}
    -> {"ok": true, "saml_response": b64, "destination": url,
        "in_response_to": id, "sp_entity_id": id}
  {"op": "assertion", "user": {...}, "opts": {"audience": ..., ...}}
    -> {"ok": true, "assertion": xml}
  {"op": "unsolicited", "user": {...}, "opts": {"sp_entity_id": ..., ...}}
    -> {"ok": true, "saml_response": b64, "destination": url}
  {"op": "logout_response", "query": {"SAMLResponse": ..., "SigAlg": ...,
   "Signature": ..., "RelayState": ...}}
    -> {"ok": true, "status": status code, "in_response_to": id}
  {"op": "logout", "user": {...}, "opts": {"destination": ..., "post": bool,
   "session_indexes": [...], "relay_state": ...}}
    -> {"ok": true, "destination": url (Redirect: with the signed query),
        "saml_request": b64 (POST only), "id": request id}

Failures reply {"ok": false, "error": "..."}; the script keeps running. It
exits at end of input. Nothing SAML is logged.
"""

import base64
import json
import logging
import sys

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, class_name
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_UNSPECIFIED, NameID
from saml2.server import Server
from saml2.sigver import (RSA_OAEP_MGF1P, RSACrypto, get_pem_wrapped_unwrapped, make_temp, pre_encryption_part,
                          pre_signature_part, signed_instance_factory, verify_redirect_signature)
from saml2.time_util import in_a_while

AUTHN = {"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"}

# Content encryption a Response may ask for: the EncryptedData's Algorithm
# and xmlsec1's --session-key for it.
CIPHERS = {
    "aes128-gcm": ("http://www.w3.org/2009/xmlenc11#aes128-gcm", "aes-128"),
    "aes256-gcm": ("http://www.w3.org/2009/xmlenc11#aes256-gcm", "aes-256"),
    "aes128-cbc": ("http://www.w3.org/2001/04/xmlenc#aes128-cbc", "aes-128"),
}


class EncryptingServer(Server):
    """pysaml2 7.0.1's Server encrypts assertions with a fixed template:
    Entity._encrypt_assertion calls pre_encryption_part() with its default
    tripledes-cbc and SecurityContext.encrypt_assertion with its default
    --session-key des-192; create_authn_response takes no algorithm. This
    override is the same method with the cipher of the current call
    (self.cipher, a CIPHERS key) and RSA-OAEP (rsa-oaep-mgf1p) key
    transport to the SP's metadata encryption certificate."""

    cipher = None

    def _encrypt_assertion(self, encrypt_cert, sp_entity_id, response, node_xpath=None):
        if self.cipher is None:
            return super()._encrypt_assertion(encrypt_cert, sp_entity_id, response, node_xpath)
        msg_enc, session_key = CIPHERS[self.cipher]
        certs = [encrypt_cert] if encrypt_cert else self.metadata.certs(sp_entity_id, "any", "encryption")
        if not certs:
            raise ValueError("the SP's metadata has no encryption certificate")
        wrapped, unwrapped = get_pem_wrapped_unwrapped(certs[0])
        tmp = make_temp(wrapped.encode("ascii"), decode=False, delete_tmpfiles=self.config.delete_tmpfiles)
        template = pre_encryption_part(msg_enc=msg_enc, key_enc=RSA_OAEP_MGF1P, encrypt_cert=unwrapped)
        return self.sec.crypto.encrypt_assertion(response, tmp.name, template, session_key, node_xpath=node_xpath)


def build_server(cfg):
    """Returns a saml2.server.Server for the Go side's config."""
    conf = IdPConfig()
    conf.load({
        "entityid": cfg["entity_id"],
        "service": {"idp": {
            "endpoints": {
                "single_sign_on_service": [(cfg["sso_url"], BINDING_HTTP_REDIRECT)],
                "single_logout_service": [(cfg["slo_url"], BINDING_HTTP_REDIRECT)],
            },
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED, NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {
                "lifetime": {"minutes": cfg["lifetime_minutes"]},
                "name_form": NAME_FORMAT_URI,
            }},
        }},
        "key_file": cfg["key_file"],
        "cert_file": cfg["cert_file"],
        "xmlsec_binary": cfg["xmlsec_binary"],
        "metadata": {"local": [cfg["sp_metadata_file"]]},
        "accepted_time_diff": 60,
    })
    return EncryptingServer(config=conf)


def identity(user):
    """The attribute dict pysaml2 maps through its saml_uri attribute map."""
    ident = {}
    if user.get("email"):
        ident["mail"] = [user["email"]]
    if user.get("name"):
        ident["displayName"] = [user["name"]]
    if user.get("groups"):
        ident["groups"] = list(user["groups"])
    return ident


def name_id(user, fmt):
    if fmt == NAMEID_FORMAT_EMAILADDRESS:
        return NameID(format=fmt, text=user["email"])
    return NameID(format=fmt or NAMEID_FORMAT_UNSPECIFIED, text=user["id"])


def algs(cfg, opts):
    return opts.get("sig_alg") or cfg["sig_alg"], opts.get("digest_alg") or cfg["digest_alg"]


def check_redirect_signature(srv, query, sp_entity_id):
    """Verifies an HTTP-Redirect signature with the SP's metadata certs.

    pysaml2's parse_authn_request does not look at SigAlg/Signature at all,
    nor at the SP's AuthnRequestsSigned; this is what an IdP built on it
    (SATOSA, say) adds.
    """
    if "Signature" not in query:
        descriptors = srv.metadata[sp_entity_id].get("spsso_descriptor", [])
        if any(d.get("authn_requests_signed") == "true" for d in descriptors):
            raise ValueError("the SP's metadata says AuthnRequestsSigned but the request is unsigned")
        return
    certs = srv.metadata.certs(sp_entity_id, "spsso", "signing")
    if not certs:
        raise ValueError("request is signed but the SP metadata has no signing certificate")
    for cert in certs:
        if verify_redirect_signature(query, RSACrypto(None), cert=cert):
            return
    raise ValueError("redirect-binding signature does not verify")


def authn_response(srv, cfg, user, opts, in_response_to, destination, sp_entity_id, fmt):
    """A signed Response for user (create_authn_response), base64; with
    opts["encrypt"] (a CIPHERS key) its assertion is encrypted for the SP's
    metadata encryption certificate."""
    sig_alg, digest_alg = algs(cfg, opts)
    cipher = opts.get("encrypt") or None
    if cipher is not None and cipher not in CIPHERS:
        raise ValueError("unknown encryption %r" % cipher)
    if cipher is not None and not srv.has_encrypt_cert_in_metadata(sp_entity_id):
        # pysaml2 itself would quietly send the assertion in clear text.
        raise ValueError("the SP's metadata has no encryption certificate")
    srv.cipher = cipher
    try:
        resp = srv.create_authn_response(
            identity=identity(user),
            in_response_to=in_response_to,
            destination=destination,
            sp_entity_id=sp_entity_id,
            name_id=name_id(user, fmt),
            authn=AUTHN,
            sign_assertion=not opts.get("unsigned_assertion"),
            sign_response=not opts.get("unsigned_response"),
            sign_alg=sig_alg,
            digest_alg=digest_alg,
            session_not_on_or_after=in_a_while(seconds=cfg["session_seconds"]),
            encrypt_assertion=cipher is not None,
        )
    finally:
        srv.cipher = None
    # On some failures create_authn_response returns an error Response (or
    # a list of lines) instead of raising.
    if not isinstance(resp, str) or "status:Success" not in resp:
        raise ValueError("pysaml2 did not produce a successful Response")
    return base64.b64encode(resp.encode("utf-8")).decode("ascii")


def respond(srv, cfg, req):
    query, user, opts = req["query"], req["user"], req.get("opts") or {}
    parsed = srv.parse_authn_request(query["SAMLRequest"], BINDING_HTTP_REDIRECT)
    if parsed is None:
        raise ValueError("pysaml2 could not parse the AuthnRequest")
    msg = parsed.message
    sp_entity_id = msg.issuer.text.strip()
    # Finds the ACS in the SP's metadata; raises for an unknown SP or an
    # AssertionConsumerServiceURL the metadata does not list.
    args = srv.response_args(msg, [BINDING_HTTP_POST])
    check_redirect_signature(srv, query, sp_entity_id)
    fmt = opts.get("name_id_format")
    if not fmt and msg.name_id_policy is not None:
        fmt = msg.name_id_policy.format
    resp = authn_response(srv, cfg, user, opts, msg.id, args["destination"], sp_entity_id, fmt)
    return {
        "saml_response": resp,
        "destination": args["destination"],
        "in_response_to": msg.id,
        "sp_entity_id": sp_entity_id,
    }


def unsolicited(srv, cfg, req):
    """An IdP-initiated (unsolicited) Response: create_authn_response with
    no InResponseTo, to the SP's HTTP-POST ACS from its metadata."""
    user, opts = req["user"], req.get("opts") or {}
    sp_entity_id = opts["sp_entity_id"]
    acs = srv.metadata.assertion_consumer_service(sp_entity_id, BINDING_HTTP_POST)
    if not acs:
        raise ValueError("the SP's metadata has no HTTP-POST AssertionConsumerService")
    destination = acs[0]["location"]
    resp = authn_response(srv, cfg, user, opts, None, destination, sp_entity_id, opts.get("name_id_format"))
    return {"saml_response": resp, "destination": destination}


def assertion(srv, cfg, req):
    """A bare signed Assertion (RFC 7522 bearer grant): no InResponseTo."""
    user, opts = req["user"], req.get("opts") or {}
    audience = opts["audience"]
    recipient = opts.get("recipient") or audience
    policy = srv.config.getattr("policy", "idp")
    ast = srv.setup_assertion(
        AUTHN, audience, None, recipient, name_id(user, opts.get("name_id_format")),
        policy, srv._issuer(None), None, identity(user), True, False,
        session_not_on_or_after=in_a_while(seconds=cfg["session_seconds"]))
    sig_alg, digest_alg = algs(cfg, opts)
    ast.signature = pre_signature_part(ast.id, srv.sec.my_cert, 1, sign_alg=sig_alg, digest_alg=digest_alg)
    return {"assertion": signed_instance_factory(ast, srv.sec, [(class_name(ast), ast.id)])}


def logout(srv, cfg, req):
    """An IdP-initiated LogoutRequest to the SP for user, as pysaml2 makes
    it (create_logout_request): HTTP-Redirect signed in the query string
    (apply_binding), or HTTP-POST with an enveloped signature."""
    user, opts = req["user"], req.get("opts") or {}
    destination, post = opts["destination"], bool(opts.get("post"))
    sig_alg, digest_alg = algs(cfg, opts)
    req_id, msg = srv.create_logout_request(
        destination, opts.get("sp_entity_id") or "",
        name_id=name_id(user, opts.get("name_id_format")),
        session_indexes=opts.get("session_indexes") or None,
        expire=in_a_while(minutes=5),
        sign=post, sign_alg=sig_alg, digest_alg=digest_alg)
    if post:
        return {"destination": destination, "id": req_id,
                "saml_request": base64.b64encode(str(msg).encode("utf-8")).decode("ascii")}
    info = srv.apply_binding(BINDING_HTTP_REDIRECT, str(msg), destination,
                             opts.get("relay_state") or "", sign=True, sigalg=sig_alg)
    return {"destination": dict(info["headers"])["Location"], "id": req_id}


def logout_response(srv, cfg, req):
    """Takes an SP's LogoutResponse in the HTTP-Redirect binding as
    pysaml2's IdP would: the query signature must verify with the SP's
    metadata signing certificate, then parse_logout_request_response
    parses it (checking Destination, Issuer and time)."""
    query = req["query"]
    xml = srv.parse_logout_request_response(query["SAMLResponse"], BINDING_HTTP_REDIRECT)
    if xml is None:
        raise ValueError("pysaml2 could not parse the LogoutResponse")
    sp_entity_id = xml.response.issuer.text.strip()
    certs = srv.metadata.certs(sp_entity_id, "spsso", "signing")
    if "Signature" not in query or not any(verify_redirect_signature(query, RSACrypto(None), cert=c) for c in certs):
        raise ValueError("the LogoutResponse's redirect signature does not verify with the SP's metadata")
    return {"status": xml.response.status.status_code.value, "in_response_to": xml.response.in_response_to}


OPS = {"respond": respond, "assertion": assertion, "logout": logout, "unsolicited": unsolicited,
       "logout_response": logout_response}


def main():
    # Replies go to the real stdout; anything else that prints (pysaml2,
    # warnings) goes to stderr, which the Go side keeps in a log file.
    out = sys.stdout
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    def reply(obj):
        out.write(json.dumps(obj) + "\n")
        out.flush()

    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    try:
        srv = build_server(cfg)
        reply({"ok": True, "metadata": str(entity_descriptor(srv.config))})
    except Exception as exc:  # noqa: BLE001 - reported to Go, which fails the test
        reply({"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)})
        return 1
    for line in sys.stdin:
        try:
            req = json.loads(line)
            result = OPS[req["op"]](srv, cfg, req)
            result["ok"] = True
        except Exception as exc:  # noqa: BLE001
            result = {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc)}
        reply(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
