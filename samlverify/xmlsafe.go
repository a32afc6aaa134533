package samlverify

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/beevik/etree"
	xrv "github.com/mattermost/xml-roundtrip-validator"
)

// maxDepth bounds element nesting. SAML messages nest about a dozen deep;
// a much deeper document is an attack on the parser.
const maxDepth = 64

// decodeBase64 decodes s after checking its length against limit. Line breaks
// and spaces are dropped first, because several IdPs wrap the base64 text of
// the HTTP-POST binding at 76 columns.
func decodeBase64(s string, limit int, enc *base64.Encoding) ([]byte, error) {
	if len(s) > limit {
		return nil, failf(ReasonTooLarge, "encoded message exceeds the size cap")
	}
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n':
			return -1
		}
		return r
	}, s)
	b, err := enc.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, failf(ReasonMalformed, "message is not valid base64")
	}
	return b, nil
}

// parseXML checks raw for constructs an XML parser might honour but SAML
// never needs (DTDs, processing instructions, comments inside the root,
// duplicate attributes, several roots), checks that it survives an
// encoding/xml round trip unchanged, parses it and checks that no two
// elements share an ID. Everything later reads only the returned document.
func parseXML(raw []byte) (*etree.Document, error) {
	if err := scanTokens(raw); err != nil {
		return nil, err
	}
	if err := xrv.Validate(bytes.NewReader(raw)); err != nil {
		return nil, failf(ReasonMalformed, "XML does not survive a round trip")
	}
	doc := etree.NewDocument()
	doc.ReadSettings = etree.ReadSettings{MaxDepth: maxDepth}
	if err := doc.ReadFromBytes(raw); err != nil || doc.Root() == nil {
		return nil, failf(ReasonMalformed, "XML could not be parsed")
	}
	if err := uniqueIDs(doc.Root()); err != nil {
		return nil, err
	}
	return doc, nil
}

// scanTokens walks raw with encoding/xml, before any tree is built, and
// refuses DTDs, entity declarations, processing instructions other than the
// XML declaration and comments inside the root element.
func scanTokens(raw []byte) error {
	d := xml.NewDecoder(bytes.NewReader(raw))
	d.Strict = true
	depth, roots, first := 0, 0, true
	for {
		tok, err := d.RawToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.Directive:
			return failf(ReasonDoctype, "DTD or other directive")
		case xml.ProcInst:
			if t.Target != "xml" || !first {
				return failf(ReasonProcInst, "processing instruction")
			}
		case xml.Comment:
			if depth > 0 {
				return failf(ReasonComment, "comment inside the message")
			}
		case xml.StartElement:
			if depth == 0 {
				roots++
			}
			depth++
			if err := checkStart(t, depth, roots); err != nil {
				return err
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			if depth == 0 && len(bytes.TrimSpace(t)) > 0 {
				return failf(ReasonMalformed, "text outside the root element")
			}
		}
		first = false
	}
	if roots != 1 || depth != 0 {
		return failf(ReasonMalformed, "document must have exactly one root element")
	}
	return nil
}

// checkStart refuses a start tag that is too deep, a second root, or one
// that names an attribute twice. Two attributes with one local name in
// different namespaces count as a duplicate, because etree's SelectAttr, which
// goxmldsig uses for ID, matches on the local name alone.
func checkStart(t xml.StartElement, depth, roots int) error {
	if depth > maxDepth {
		return failf(ReasonMalformed, "elements nested too deeply")
	}
	if roots > 1 {
		return failf(ReasonMalformed, "more than one root element")
	}
	seen := make(map[string]bool, len(t.Attr))
	for _, a := range t.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		if seen[a.Name.Local] {
			return failf(ReasonMalformed, "duplicate attribute")
		}
		seen[a.Name.Local] = true
	}
	return nil
}

// syntaxError reports an encoding/xml error without its message, which can
// quote the input (an entity name, for instance).
func syntaxError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fail(ReasonMalformed, fmt.Errorf("XML syntax error on line %d", se.Line))
	}
	return failf(ReasonMalformed, "XML could not be tokenized")
}

// uniqueIDs refuses a tree in which two elements carry the same ID
// attribute. A signature reference to a duplicated ID is ambiguous, which is
// the lever of several signature wrapping attacks.
func uniqueIDs(root *etree.Element) error {
	seen := map[string]bool{}
	var walk func(*etree.Element) error
	walk = func(el *etree.Element) error {
		if a := el.SelectAttr("ID"); a != nil {
			if seen[a.Value] {
				return failf(ReasonMalformed, "duplicate ID")
			}
			seen[a.Value] = true
		}
		for _, c := range el.ChildElements() {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(root)
}
