package tfpb

import "fmt"

// ModelState is tensorflow.serving.ModelVersionStatus.State.
type ModelState int32

// ModelState values (apis/get_model_status.proto).
const (
	StateUnknown   ModelState = 0
	StateStart     ModelState = 10
	StateLoading   ModelState = 20
	StateAvailable ModelState = 30
	StateUnloading ModelState = 40
	StateEnd       ModelState = 50
)

// String returns the enum name, as TF Serving's REST API prints it.
func (s ModelState) String() string {
	switch s {
	case StateStart:
		return "START"
	case StateLoading:
		return "LOADING"
	case StateAvailable:
		return "AVAILABLE"
	case StateUnloading:
		return "UNLOADING"
	case StateEnd:
		return "END"
	}
	return "UNKNOWN"
}

// ModelVersionStatus is one entry of GetModelStatusResponse: version=1,
// state=2, status=3 (StatusProto{error_code=1, error_message=2}).
type ModelVersionStatus struct {
	Version      int64
	State        ModelState
	ErrorCode    int32
	ErrorMessage string
}

// GetModelStatusRequest encodes a GetModelStatusRequest (model_spec=1).
func GetModelStatusRequest(spec ModelSpec) []byte {
	return appendSpec(nil, 1, spec)
}

// GetModelStatusResponse encodes a GetModelStatusResponse
// (model_version_status=1, repeated).
func GetModelStatusResponse(statuses []ModelVersionStatus) []byte {
	var b []byte
	for _, s := range statuses {
		var m []byte
		m = appendVarint(m, 1, uint64(s.Version))
		m = appendVarint(m, 2, uint64(s.State))
		var st []byte
		st = appendVarint(st, 1, uint64(s.ErrorCode))
		st = appendString(st, 2, s.ErrorMessage)
		m = appendMessage(m, 3, st)
		b = appendMessage(b, 1, m)
	}
	return b
}

// ParseGetModelStatusResponse decodes a GetModelStatusResponse.
func ParseGetModelStatusResponse(b []byte) ([]ModelVersionStatus, error) {
	var out []ModelVersionStatus
	err := walk(b, func(f field) error {
		if !f.isBytes(1) {
			return nil
		}
		var s ModelVersionStatus
		err := walk(f.b, func(g field) error {
			switch {
			case g.isVarint(1):
				s.Version = int64(g.v)
			case g.isVarint(2):
				s.State = ModelState(int32(g.v))
			case g.isBytes(3):
				return walk(g.b, func(h field) error {
					var err error
					switch {
					case h.isVarint(1):
						s.ErrorCode = int32(h.v)
					case h.isBytes(2):
						s.ErrorMessage, err = h.str()
					}
					return err
				})
			}
			return nil
		})
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("parsing GetModelStatusResponse: %w", err)
	}
	return out, nil
}
