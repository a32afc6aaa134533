package envoy

import (
	"errors"
	"net/http"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tfgate/tfgate/authz"
)

// This file reads a CheckRequest's wire bytes straight into an
// authz.Request, the fields NewRequest reads and nothing else: decoding the
// whole message (addresses, metadata, TLS, a map of every header, then a
// copy of that map as http.Header) cost more than the rest of a cached
// Check. The result is NewRequest's for every message proto.Unmarshal
// accepts (TestDecodeMatchesNewRequest, FuzzDecodeCheckRequest).
//
// As proto.Unmarshal does: a field seen twice keeps the last value, a
// message seen twice is merged, repeated fields append, a field of the
// wrong wire type is skipped as unknown, and a string field that is not
// UTF-8 fails the whole message. Unlike it, messages tfgate does not read
// (destination, metadata, TLS, the time) are checked for framing only, not
// decoded: a malformed one there no longer fails the Check.
//
// Field numbers (envoy.service.auth.v3, envoy.config.core.v3):
//
//	CheckRequest        1 attributes
//	AttributeContext    1 source Peer, 4 request Request
//	Peer                1 address Address, 2 service, 4 principal, 5 certificate
//	Address             oneof: 1 socket_address, 2 pipe, 3 envoy_internal_address
//	SocketAddress       2 address
//	Request             2 http HttpRequest
//	HttpRequest         1 id, 2 method, 3 headers (map), 4 path, 5 host, 6 scheme,
//	                    7 query, 8 fragment, 9 size, 10 protocol, 11 body,
//	                    12 raw_body, 13 header_map HeaderMap
//	HeaderMap           1 headers HeaderValue {1 key, 2 value, 3 raw_value}

var (
	errMalformed = errors.New("envoy: malformed CheckRequest")
	errNotUTF8   = errors.New("envoy: CheckRequest string field is not valid UTF-8")
)

// decoded is what decoding gathers before it becomes the Request.
type decoded struct {
	r      *authz.Request
	values []string
	// body is the string body (field 11), rawBody the bytes body (12).
	body    []byte
	rawBody []byte
	// headerMap holds header_map entries in order: applied after the map
	// of headers, as NewRequest does.
	headerMap []rawHeader
}

type rawHeader struct{ key, value, raw []byte }

// decodeCheckRequest fills p's Request from a CheckRequest's bytes. b is
// not kept: every string and the body are copied.
func decodeCheckRequest(b []byte, p *pooledRequest) error {
	header := p.r.Header
	if header == nil {
		header = make(http.Header, 16)
	}
	p.r = authz.Request{Header: header}
	d := decoded{r: &p.r, values: p.values[:0]}
	err := walk(b, func(num protowire.Number, v []byte) error {
		if num == 1 {
			return walk(v, d.attributes)
		}
		return nil
	})
	p.values = d.values
	if err != nil {
		return err
	}
	for _, h := range d.headerMap {
		v := string(h.raw)
		if v == "" {
			v = string(h.value)
		}
		if len(h.key) > 0 && h.key[0] == ':' {
			continue
		}
		ck := canonicalBytes(h.key)
		p.r.Header[ck] = append(p.r.Header[ck], v)
	}
	p.r.GRPC = isGRPC(p.r.Header.Get("Content-Type"))
	if len(d.rawBody) > 0 {
		// As proto.Unmarshal: an empty raw_body, present or not, is nil.
		p.r.Body = append([]byte(nil), d.rawBody...)
	}
	if p.r.Body == nil && !p.r.GRPC && len(d.body) > 0 {
		p.r.Body = append([]byte(nil), d.body...)
	}
	return nil
}

// walk checks the framing of every field of the message in b and calls f
// with each length-delimited field's number and contents. Every field
// tfgate reads is length-delimited (strings, bytes, messages, map
// entries), so a field of another wire type is unknown to it, as to
// proto.Unmarshal, and f never sees it.
func walk(b []byte, f func(num protowire.Number, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return errMalformed
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if err := f(num, v); err != nil {
			return err
		}
	}
	return nil
}

func (d *decoded) attributes(num protowire.Number, v []byte) error {
	switch num {
	case 1:
		return walk(v, d.peer)
	case 4:
		return walk(v, func(num protowire.Number, v []byte) error {
			if num == 2 {
				return walk(v, d.http)
			}
			return nil
		})
	}
	return nil
}

func (d *decoded) peer(num protowire.Number, v []byte) error {
	switch num {
	case 1:
		return walk(v, d.address)
	case 4:
		return setString(&d.r.SourcePrincipal, v)
	case 2, 5: // service, certificate: read by nobody, but strings
		return checkUTF8(v)
	}
	return nil
}

func (d *decoded) address(num protowire.Number, v []byte) error {
	switch num {
	case 1:
		return walk(v, func(num protowire.Number, v []byte) error {
			if num == 2 {
				return setString(&d.r.SourceIP, v)
			}
			return nil
		})
	case 2, 3:
		// Another member of the oneof replaces the socket address.
		d.r.SourceIP = ""
	}
	return nil
}

func (d *decoded) http(num protowire.Number, v []byte) error {
	r := d.r
	switch num {
	case 1:
		return setString(&r.ID, v)
	case 2:
		return setString(&r.Method, v)
	case 3:
		return d.headerEntry(v)
	case 4:
		return setString(&r.Path, v)
	case 5:
		return setString(&r.Host, v)
	case 6:
		return setString(&r.Scheme, v)
	case 7, 8: // query, fragment
		return checkUTF8(v)
	case 10:
		return setString(&r.Protocol, v)
	case 11:
		if err := checkUTF8(v); err != nil {
			return err
		}
		d.body = v
	case 12:
		d.rawBody = v
	case 13:
		return walk(v, func(num protowire.Number, v []byte) error {
			if num != 1 {
				return nil
			}
			var h rawHeader
			err := walk(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1:
					h.key = v
					return checkUTF8(v)
				case 2:
					h.value = v
					return checkUTF8(v)
				case 3:
					h.raw = v
				}
				return nil
			})
			d.headerMap = append(d.headerMap, h)
			return err
		})
	}
	return nil
}

// headerEntry applies one entry of the headers map: the last value of a
// name wins, as in a decoded map.
func (d *decoded) headerEntry(entry []byte) error {
	var key, value []byte
	err := walk(entry, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			key = v
		case 2:
			value = v
		default:
			return nil
		}
		return checkUTF8(v)
	})
	if err != nil || (len(key) > 0 && key[0] == ':') {
		// :path, :method and :authority are in their own fields.
		return err
	}
	d.values = append(d.values, string(value))
	d.r.Header[canonicalBytes(key)] = d.values[len(d.values)-1 : len(d.values) : len(d.values)]
	return nil
}

func setString(dst *string, v []byte) error {
	if err := checkUTF8(v); err != nil {
		return err
	}
	*dst = string(v)
	return nil
}

func checkUTF8(v []byte) error {
	if !utf8.Valid(v) {
		return errNotUTF8
	}
	return nil
}

// canonicalBytes is canonicalKey for a name still in the message's bytes:
// a known name costs no allocation.
func canonicalBytes(k []byte) string {
	if ck, ok := knownKeys[string(k)]; ok {
		return ck
	}
	return http.CanonicalHeaderKey(string(k))
}
