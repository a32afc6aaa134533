package session

import (
	"encoding/json"
	"fmt"

	"github.com/tfgate/tfgate/authz"
)

// recordVersion is the version of the stored session encoding. Bump it, and
// keep decoding the old one for a release, when the shape changes in a way
// old readers would misread.
const recordVersion = 1

// record is a stored session: compact JSON, {"v":1,"s":{...}}. Fields a
// reader does not know are ignored, so adding an optional field needs no
// version bump.
type record struct {
	V int           `json:"v"`
	S authz.Session `json:"s"`
}

func encodeSession(s authz.Session) ([]byte, error) {
	b, err := json.Marshal(record{V: recordVersion, S: s})
	if err != nil {
		return nil, fmt.Errorf("session: encoding session: %w", err)
	}
	return b, nil
}

// decodeSession decodes a stored session. Anything it cannot trust, including
// a session without ExpiresAt, is ErrCorrupt.
//
// What encodeSession writes takes decodeRecordFast (2 allocations for a
// session with three groups, instead of 16); anything it does not take
// (whitespace, null, an unknown field...) is decoded by encoding/json, the
// reference both must agree with.
func decodeSession(b []byte) (authz.Session, error) {
	if r, ok := decodeRecordFast(b); ok {
		return checkRecord(r)
	}
	return decodeSessionJSON(b)
}

// decodeSessionJSON is decodeSession by encoding/json alone. (Its own
// function so that the record it decodes into, which escapes, costs an
// allocation only here.)
func decodeSessionJSON(b []byte) (authz.Session, error) {
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return authz.Session{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return checkRecord(r)
}

// checkRecord rejects a decoded record it cannot trust.
func checkRecord(r record) (authz.Session, error) {
	if r.V != recordVersion {
		return authz.Session{}, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, r.V)
	}
	if r.S.ExpiresAt.IsZero() {
		return authz.Session{}, fmt.Errorf("%w: no expiry", ErrCorrupt)
	}
	return r.S, nil
}
