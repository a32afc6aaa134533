package tfpb

import (
	"math"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// marshalRegressions encodes a RegressionResult.
func marshalRegressions(values []float32) []byte {
	var b []byte
	for _, v := range values {
		var r []byte
		r = protowire.AppendTag(r, 1, protowire.Fixed32Type)
		r = protowire.AppendFixed32(r, math.Float32bits(v))
		b = appendMessage(b, 1, r)
	}
	return b
}

// parseRegressions decodes a RegressionResult.
func parseRegressions(b []byte) ([]float32, error) {
	var out []float32
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		var vs []float32
		err := walk(f.b, func(g field) error {
			var err error
			if g.num == 1 {
				vs, err = g.floats(vs)
			}
			return err
		})
		v := float32(0)
		if len(vs) > 0 {
			v = vs[len(vs)-1]
		}
		out = append(out, v)
		return err
	})
	return out, err
}

// marshalClassifications encodes a ClassificationResult.
func marshalClassifications(classes [][]Class) []byte {
	var b []byte
	for _, cs := range classes {
		var list []byte
		for _, c := range cs {
			m := appendString(nil, 1, c.Label)
			m = protowire.AppendTag(m, 2, protowire.Fixed32Type)
			m = protowire.AppendFixed32(m, math.Float32bits(c.Score))
			list = appendMessage(list, 1, m)
		}
		b = appendMessage(b, 1, list)
	}
	return b
}

// parseClassifications decodes a ClassificationResult.
func parseClassifications(b []byte) ([][]Class, error) {
	out := [][]Class{}
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		cs := []Class{}
		err := walk(f.b, func(g field) error {
			if !g.isBytes(1) {
				return nil
			}
			var c Class
			err := walk(g.b, func(h field) error {
				var err error
				switch {
				case h.isBytes(1):
					c.Label, err = h.str()
				case h.num == 2:
					var vs []float32
					vs, err = h.floats(nil)
					if len(vs) > 0 {
						c.Score = vs[len(vs)-1]
					}
				}
				return err
			})
			cs = append(cs, c)
			return err
		})
		out = append(out, cs)
		return err
	})
	return out, err
}

// appendInput appends an Input{example_list=1 ExampleList{examples=1}}
// message field.
func appendInput(b []byte, num protowire.Number, examples []Example) []byte {
	var list []byte
	for _, ex := range examples {
		feats := appendMapEntries(nil, 1, ex, func(vs []float32) []byte {
			return appendMessage(nil, 2, appendPackedFloats(nil, 1, vs))
		})
		list = appendMessage(list, 1, appendMessage(nil, 1, feats))
	}
	return appendMessage(b, num, appendMessage(nil, 1, list))
}

// inputAt decodes the Input message at field num of b.
func inputAt(b []byte, num protowire.Number) ([]Example, error) {
	in, _, err := messageField(b, num)
	if err != nil {
		return nil, err
	}
	var examples []Example
	var context Example
	err = walk(in, func(f field) error {
		if !f.isBytes(1) && !f.isBytes(2) {
			return nil
		}
		// Input is a oneof: the last kind on the wire wins.
		examples, context = examples[:0], nil
		return walk(f.b, func(g field) error {
			var err error
			switch {
			case g.isBytes(1):
				var ex Example
				ex, err = parseExample(g.b)
				examples = append(examples, ex)
			case g.isBytes(2) && f.num == 2:
				context, err = parseExample(g.b)
			}
			return err
		})
	})
	for _, ex := range examples {
		for k, v := range context {
			if _, ok := ex[k]; !ok {
				ex[k] = slices.Clone(v)
			}
		}
	}
	return examples, err
}

// parseExample decodes the float features of a tensorflow.Example.
func parseExample(b []byte) (Example, error) {
	ex := Example{}
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		return walk(f.b, func(g field) error {
			if !g.isBytes(1) {
				return nil
			}
			k, feat, err := parseMapEntry(g.b)
			if err != nil {
				return err
			}
			list, _, err := messageField(feat, 2)
			if err != nil {
				return err
			}
			var vs []float32
			err = walk(list, func(h field) error {
				var err error
				if h.num == 1 {
					vs, err = h.floats(vs)
				}
				return err
			})
			ex[k] = vs
			return err
		})
	})
	return ex, err
}
