package tfservingstandin

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// apiError is a TF Serving status: a canonical code and a message. REST
// maps it to an HTTP status, gRPC sends it as the RPC status.
type apiError struct {
	code codes.Code
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// GRPCStatus lets status.FromError and grpc-go see the code.
func (e *apiError) GRPCStatus() *status.Status { return status.New(e.code, e.msg) }

// apiErrorf builds an *apiError.
func apiErrorf(code codes.Code, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

// httpStatus is TF Serving's status → HTTP mapping (tfserving-api.md §2.2
// rule 10).
var httpStatus = map[codes.Code]int{
	codes.OK:                 http.StatusOK,
	codes.InvalidArgument:    http.StatusBadRequest,
	codes.FailedPrecondition: http.StatusBadRequest,
	codes.OutOfRange:         http.StatusBadRequest,
	codes.Unauthenticated:    http.StatusUnauthorized,
	codes.PermissionDenied:   http.StatusForbidden,
	codes.NotFound:           http.StatusNotFound,
	codes.AlreadyExists:      http.StatusConflict,
	codes.Aborted:            http.StatusConflict,
	codes.ResourceExhausted:  http.StatusTooManyRequests,
	codes.Canceled:           499,
	codes.Unknown:            http.StatusInternalServerError,
	codes.Internal:           http.StatusInternalServerError,
	codes.DataLoss:           http.StatusInternalServerError,
	codes.Unimplemented:      http.StatusNotImplemented,
	codes.Unavailable:        http.StatusServiceUnavailable,
	codes.DeadlineExceeded:   http.StatusGatewayTimeout,
}

// codeOf returns err's canonical code (Unknown for foreign errors).
func codeOf(err error) codes.Code {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code
	}
	if err == nil {
		return codes.OK
	}
	return codes.Unknown
}
