// Package tfserving works out what a request asks TensorFlow Serving to do:
// the API, and the model, version or label and signature that TF Serving
// itself will resolve. It is a pure parser: no I/O, no logging, no
// configuration.
//
// The rules follow TF Serving's own code, not a generic router, because an
// authorizer that reads a request differently from the server it guards can
// be bypassed:
//
//   - REST: the full raw path (with any query) is matched like TF Serving's
//     two case-insensitive RE2 expressions, the verb is compared
//     case-sensitively afterwards, and the model name and label are
//     percent-decoded like curl_easy_unescape. The signature comes from the
//     first top-level "signature_name" of a buffered JSON body.
//   - gRPC: the method is the exact ":path"; the ModelSpec is read from the
//     length-prefixed protobuf body with protobuf's own merge rules (repeated
//     occurrences of a message field merge, the last scalar wins, version and
//     version_label are a oneof).
//
// A gRPC frame compressed with the grpc-encoding gzip or deflate, and a
// REST body with Content-Encoding: gzip, are inflated as TF Serving
// inflates them, under hard limits on size and ratio (inflate.go).
//
// Parse returns an error for a request that must be denied as malformed:
// a gRPC body compressed in another way or inflating past the limits, a
// truncated or partial gRPC body, a message protobuf would
// reject, a missing model name, or a REST body that is not the JSON object
// TF Serving expects. Requests that TF Serving answers without serving a
// model are not errors: they are Targets of API Invalid, CORSPreflight or
// Unknown, and the policy decides.
//
// The parsers never copy an uncompressed request body and allocate little
// beyond the results, so a body of tens of MiB costs one pass over the
// bytes at most; a compressed one costs its inflated size, at most
// MaxInflatedBytes. docs/tfserving-api.md §6 lists every deliberate
// difference from TF Serving's reading.
package tfserving
