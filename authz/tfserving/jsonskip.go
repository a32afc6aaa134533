package tfserving

// skipValue steps over one JSON value at s.i, checking its syntax. It is
// iterative, with a fixed-size stack, so hostile nesting costs neither
// recursion nor allocation.
func (s *jsonScanner) skipValue() error {
	var objects levels // which open containers are objects
	depth := 0
	for {
		// A value starts here.
		s.ws()
		switch c := s.peek(); c {
		case '{', '[':
			if depth == maxJSONDepth {
				return errJSONTooDeep
			}
			s.i++
			s.ws()
			if s.consume(closer(c)) {
				break // empty container: a complete value
			}
			objects.set(depth, c == '{')
			depth++
			if c == '{' {
				if _, _, err := s.name(); err != nil {
					return err
				}
			}
			continue
		case '"':
			if _, _, err := s.str(); err != nil {
				return err
			}
		default:
			if err := s.scalar(); err != nil {
				return err
			}
		}
		// A value ended: close containers until one wants another value.
		var err error
		if depth, err = s.afterValue(&objects, depth); err != nil || depth == 0 {
			return err
		}
	}
}

// afterValue consumes ',' (and the next member name) or closing brackets
// after a value, returning the new depth; 0 means the outer value is done.
func (s *jsonScanner) afterValue(objects *levels, depth int) (int, error) {
	for depth > 0 {
		s.ws()
		isObj := objects.get(depth - 1)
		switch {
		case s.consume(','):
			if isObj {
				s.ws()
				if _, _, err := s.name(); err != nil {
					return 0, err
				}
			}
			return depth, nil
		case isObj && s.consume('}'), !isObj && s.consume(']'):
			depth--
		case s.i >= len(s.b):
			return 0, errJSONEnd
		default:
			return 0, errJSONSyntax
		}
	}
	return 0, nil
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

// levels is a bit per nesting level: set when that level is an object.
type levels [maxJSONDepth / 64]uint64

func (l *levels) set(i int, v bool) {
	if v {
		l[i/64] |= 1 << (i % 64)
	} else {
		l[i/64] &^= 1 << (i % 64)
	}
}

func (l *levels) get(i int) bool { return l[i/64]&(1<<(i%64)) != 0 }

// scalar steps over a literal or a number. TF Serving parses with
// rapidjson's kParseNanAndInfFlag, so NaN, Inf and Infinity (optionally
// negative) are numbers too.
func (s *jsonScanner) scalar() error {
	c := s.peek()
	if c == '-' && s.i+1 < len(s.b) && (s.b[s.i+1] == 'N' || s.b[s.i+1] == 'I') {
		s.i++
		return s.literal("NaN", "Infinity", "Inf")
	}
	if c == '-' || c >= '0' && c <= '9' {
		return s.number()
	}
	return s.literal("true", "false", "null", "NaN", "Infinity", "Inf")
}

// literal steps over the first of lits that comes next.
func (s *jsonScanner) literal(lits ...string) error {
	for _, lit := range lits {
		if s.hasPrefix(lit) {
			s.i += len(lit)
			return nil
		}
	}
	if s.i >= len(s.b) {
		return errJSONEnd
	}
	return errJSONSyntax
}

func (s *jsonScanner) hasPrefix(lit string) bool {
	return len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit
}

// number steps over -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?.
func (s *jsonScanner) number() error {
	s.consume('-')
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	case s.i >= len(s.b):
		return errJSONEnd
	default:
		return errJSONSyntax
	}
	if s.consume('.') && s.digits() == 0 {
		return errJSONSyntax
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return errJSONSyntax
		}
	}
	return nil
}

func (s *jsonScanner) digits() int {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i - start
}
