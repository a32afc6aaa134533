package authz

import (
	"slices"
	"testing"
)

// TestEncodeGroups (issue 8 item 4): x-tfgate-groups is an RFC 8941 list
// of strings, so a group named "admins,root" is one group upstream, not
// two. (Before, groups were joined with ",": ["admins,root", "ml"] and
// ["admins", "root", "ml"] gave the same header.)
func TestEncodeGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		groups []string
		want   string
	}{
		{nil, ""},
		{[]string{"ml"}, `"ml"`},
		{[]string{"admins,root", "ml"}, `"admins,root", "ml"`},
		{[]string{"admins", "root", "ml"}, `"admins", "root", "ml"`},
		{[]string{`say "hi"`, `back\slash`}, `"say \"hi\"", "back\\slash"`},
		{[]string{""}, `""`},
		{[]string{"café", "100%", "a\nb"}, `%"caf%c3%a9", "100%", %"a%0ab"`},
		{[]string{"ü%\""}, `%"%c3%bc%25%22"`},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		got := EncodeGroups(tc.groups)
		if got != tc.want {
			t.Errorf("EncodeGroups(%q) = %s, want %s", tc.groups, got, tc.want)
		}
		if seen[got] && got != "" {
			t.Errorf("two group lists encode to %s", got)
		}
		seen[got] = true
		back, err := ParseGroups(got)
		if err != nil || !slices.Equal(back, tc.groups) && len(tc.groups) > 0 {
			t.Errorf("ParseGroups(%s) = %q, %v; want %q", got, back, err, tc.groups)
		}
	}
	for _, bad := range []string{`ml`, `"ml`, `"ml",`, `"ml" "x"`, `"a\x"`, `%"%C3"`, `%"%c"`, "\"a\x01\"", `"ml";p=1`} {
		if g, err := ParseGroups(bad); err == nil {
			t.Errorf("ParseGroups(%s) = %q, want an error", bad, g)
		}
	}
}

// FuzzGroupsHeader: any group names encode to a header value Envoy
// accepts (printable ASCII, no CR, LF or NUL) that parses back to them.
func FuzzGroupsHeader(f *testing.F) {
	f.Add("admins,root", "ml", "café")
	f.Add(`"`, `\`, "%")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		groups := []string{a, b, c}
		v := EncodeGroups(groups)
		if !isPrintableASCII(v) {
			t.Fatalf("%q encodes to a value with non-printable bytes: %q", groups, v)
		}
		back, err := ParseGroups(v)
		if err != nil || !slices.Equal(back, groups) {
			t.Fatalf("%q -> %s -> %q, %v", groups, v, back, err)
		}
	})
}

// FuzzParseGroups: ParseGroups never panics, and what it accepts it
// re-encodes to a value that parses to the same groups.
func FuzzParseGroups(f *testing.F) {
	f.Add(`"admins,root", "ml"`)
	f.Add(`%"caf%c3%a9"`)
	f.Add(`"a\"b"`)
	f.Fuzz(func(t *testing.T, v string) {
		g, err := ParseGroups(v)
		if err != nil {
			return
		}
		again, err := ParseGroups(EncodeGroups(g))
		if err != nil || !slices.Equal(again, g) {
			t.Fatalf("%q -> %q -> %q, %v", v, g, again, err)
		}
	})
}
