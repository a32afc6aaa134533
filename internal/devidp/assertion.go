package devidp

import (
	"errors"

	"github.com/beevik/etree"
)

// buildResponse returns the samlp:Response for opts (defaults filled),
// signed as opts says: the Assertion first, then the Response around it.
func (idp *IdP) buildResponse(opts ResponseOptions) (*etree.Element, error) {
	ctx, err := idp.signingContext()
	if err != nil {
		return nil, err
	}
	resp := etree.NewElement("samlp:Response")
	resp.CreateAttr("xmlns:samlp", nsProtocol)
	resp.CreateAttr("xmlns:saml", nsAssertion)
	resp.CreateAttr("ID", opts.ResponseID)
	resp.CreateAttr("Version", "2.0")
	resp.CreateAttr("IssueInstant", timestamp(opts.IssueInstant))
	resp.CreateAttr("Destination", opts.ACSURL)
	if opts.InResponseTo != "" {
		resp.CreateAttr("InResponseTo", opts.InResponseTo)
	}
	resp.CreateElement("saml:Issuer").SetText(opts.Issuer)
	resp.CreateElement("samlp:Status").CreateElement("samlp:StatusCode").CreateAttr("Value", opts.StatusCode)
	if opts.StatusCode == StatusSuccess {
		assertion, err := buildAssertion(opts)
		if err != nil {
			return nil, err
		}
		if !opts.UnsignedAssertion {
			if err := signAfterIssuer(ctx, assertion); err != nil {
				return nil, err
			}
		}
		resp.AddChild(assertion)
	}
	if !opts.UnsignedResponse {
		if err := signAfterIssuer(ctx, resp); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// buildAssertion returns a standalone saml:Assertion (it declares its own
// namespace, so it can be signed before it is placed in the Response).
func buildAssertion(opts ResponseOptions) (*etree.Element, error) {
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", nsAssertion)
	a.CreateAttr("ID", opts.AssertionID)
	a.CreateAttr("Version", "2.0")
	a.CreateAttr("IssueInstant", timestamp(opts.IssueInstant))
	a.CreateElement("saml:Issuer").SetText(opts.Issuer)
	if err := addSubject(a, opts); err != nil {
		return nil, err
	}
	addConditions(a, opts)
	addAuthnStatement(a, opts)
	addAttributes(a, opts.User)
	return a, nil
}

func addSubject(a *etree.Element, opts ResponseOptions) error {
	nameID := opts.User.ID
	if opts.NameIDFormat == NameIDFormatEmail {
		nameID = opts.User.Email
	}
	if nameID == "" {
		return errors.New("devidp: the user has no value for the NameID format asked for")
	}
	subject := a.CreateElement("saml:Subject")
	n := subject.CreateElement("saml:NameID")
	n.CreateAttr("Format", opts.NameIDFormat)
	n.SetText(nameID)
	sc := subject.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", bearerMethod)
	data := sc.CreateElement("saml:SubjectConfirmationData")
	data.CreateAttr("NotOnOrAfter", timestamp(opts.NotOnOrAfter))
	data.CreateAttr("Recipient", opts.ACSURL)
	if opts.InResponseTo != "" {
		data.CreateAttr("InResponseTo", opts.InResponseTo)
	}
	return nil
}

func addConditions(a *etree.Element, opts ResponseOptions) {
	c := a.CreateElement("saml:Conditions")
	c.CreateAttr("NotBefore", timestamp(opts.NotBefore))
	c.CreateAttr("NotOnOrAfter", timestamp(opts.NotOnOrAfter))
	c.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(opts.Audience)
}

func addAuthnStatement(a *etree.Element, opts ResponseOptions) {
	s := a.CreateElement("saml:AuthnStatement")
	s.CreateAttr("AuthnInstant", timestamp(opts.IssueInstant))
	s.CreateAttr("SessionIndex", opts.SessionIndex)
	s.CreateAttr("SessionNotOnOrAfter", timestamp(opts.SessionNotOnOrAfter))
	s.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(authnClassRef)
}

// addAttributes adds the user's non-empty attributes. AttributeValues carry
// no xsi:type="xs:string": exclusive c14n does not count a prefix used only
// inside an attribute value as used, and goxmldsig canonicalizes in place,
// so xmlns:xs would vanish from the output and leave "xs:" unbound (it
// cannot emit the InclusiveNamespaces PrefixList that would keep it).
func addAttributes(a *etree.Element, u User) {
	type attribute struct {
		name, format, friendly string
		values                 []string
	}
	var attrs []attribute
	if u.Email != "" {
		attrs = append(attrs, attribute{AttrEmail, attrFormatURI, "mail", []string{u.Email}})
	}
	if u.Name != "" {
		attrs = append(attrs, attribute{AttrDisplayName, attrFormatURI, "displayName", []string{u.Name}})
	}
	if len(u.Groups) > 0 {
		attrs = append(attrs, attribute{AttrGroups, attrFormatBasic, "groups", u.Groups})
	}
	if len(attrs) == 0 {
		return // an AttributeStatement needs at least one Attribute
	}
	st := a.CreateElement("saml:AttributeStatement")
	for _, at := range attrs {
		el := st.CreateElement("saml:Attribute")
		el.CreateAttr("Name", at.name)
		el.CreateAttr("NameFormat", at.format)
		el.CreateAttr("FriendlyName", at.friendly)
		for _, v := range at.values {
			el.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
}
