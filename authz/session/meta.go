package session

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tfgate/tfgate/authz"
)

// A session's metadata record (Redis key "m:{handle}") is what an operator
// may see of it with `extauthz sessions list`: its kind, the IdP, when it
// was created and last used, when it ends, and its groups. The session
// itself is sealed under its token, which an operator never has; the
// record holds no token and nothing derived from one beyond the handle.
//
// It is sealed too, under a key derived from the session's subject (the
// SAML NameID): the operator names the subject to list its sessions, so
// they can open it, and a dump of Redis shows no name or group in the
// clear. Subjects are guessable, so this protects exactly as much as the
// revocation indexes' hashes already do: someone who guesses a subject
// confirms it from u:hash(subject) and, guessing group names, learns its
// groups from the g:hash(group) indexes; the record adds nothing a dump
// did not already give such a person.
//
// It lives in the session's slot ({handle}) and is written with the
// session, with the same TTL, and deleted with it. A Lookup rewrites it
// with a new LastUsed at most once per TouchInterval: at the idle-timeout
// write (touch) for sessions with an idle timeout, and once per
// TouchInterval per process for the others (noteUse, e.g. the token
// endpoint's tokens), always with SET XX so that a revoked session's
// record is never recreated.

// Session kinds, as Meta.Kind and `extauthz sessions list` show them.
const (
	KindBrowser      = "browser"       // a SAML sign-in's cookie session
	KindCLI          = "cli"           // an access token of a loopback sign-in (extauthz login)
	KindCLIRefresh   = "cli-refresh"   // the record of that sign-in's refresh token
	KindToken        = "token"         // an access token for a SAML assertion (the token endpoint's SAML bearer grant)
	KindTokenRefresh = "token-refresh" // the record of that grant's refresh token
	KindK8s          = "k8s"           // a token for a Kubernetes service-account token
)

// KindOf says what kind of credential s is, from its Family, Access and
// Auth fields (authz.Session). mTLS identities have no session.
func KindOf(s authz.Session) string {
	switch {
	case s.Auth == authz.AuthK8s:
		return KindK8s
	case s.Family == "":
		return KindBrowser
	case strings.Contains(s.Family, "/"):
		if s.Access != "" {
			return KindCLIRefresh
		}
		return KindCLI // also a pending authorization code, for its few seconds
	case s.Access != "":
		return KindTokenRefresh
	default:
		return KindToken
	}
}

// Meta is a session's metadata record, as `extauthz sessions list` shows
// it. No token is in it.
type Meta struct {
	Kind      string    `json:"k"`
	IdP       string    `json:"i,omitempty"`
	CreatedAt time.Time `json:"c"`
	LastUsed  time.Time `json:"l,omitzero"`
	ExpiresAt time.Time `json:"e"`
	Groups    []string  `json:"g,omitempty"`
}

func metaOf(s authz.Session, lastUsed time.Time) Meta {
	return Meta{Kind: KindOf(s), IdP: s.IdP, CreatedAt: s.CreatedAt, LastUsed: lastUsed, ExpiresAt: s.ExpiresAt, Groups: s.Groups}
}

// metaKey is prefix+"m:{handle}", in the slot of the session it describes.
func metaKey(prefix, handle string) string {
	return prefix + kindPrefixes[kindMeta] + "{" + handle + "}"
}

const (
	metaDomain = "tfgate session meta\x00"
	metaInfo   = "tfgate session meta v1"
)

// metaSealKey is the pseudo-token a record is sealed under: the subject,
// domain-separated from tokens (which start "tfg_") by metaDomain. seal's
// HKDF then binds it to this use with its own info string.
func metaSecret(subject string) string { return metaDomain + subject }

// sealMeta seals m for the session of subject with this handle; the
// handle is the additional data, so a record moved to another session's
// key does not open.
func sealMeta(subject, handle string, m Meta, rand io.Reader) ([]byte, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("session: encoding metadata: %w", err)
	}
	aead, err := metaAEAD(subject)
	if err != nil {
		return nil, fmt.Errorf("session: sealing metadata: %w", err)
	}
	return sealWith(aead, handle, plain, rand)
}

// metaAEAD is the AEAD of subject's metadata records.
func metaAEAD(subject string) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, []byte(metaSecret(subject)), nil, metaInfo, sealKeySize)
	if err != nil {
		return nil, err
	}
	return aeadOfKey(key)
}

// openMeta opens a record sealed by sealMeta; anything else is ErrCorrupt.
func openMeta(subject, handle string, sealed []byte) (Meta, error) {
	aead, err := metaAEAD(subject)
	if err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	plain, err := openWith(aead, handle, sealed)
	if err != nil {
		return Meta{}, err
	}
	var m Meta
	if err := json.Unmarshal(plain, &m); err != nil {
		return Meta{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return m, nil
}
