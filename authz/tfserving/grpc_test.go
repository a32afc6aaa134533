package tfserving

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

const (
	pathPredict  = "/tensorflow.serving.PredictionService/Predict"
	pathMulti    = "/tensorflow.serving.PredictionService/MultiInference"
	pathStatus   = "/tensorflow.serving.ModelService/GetModelStatus"
	pathMetadata = "/tensorflow.serving.PredictionService/GetModelMetadata"
)

func grpcReq(path string, msg []byte) Request {
	return Request{Method: "POST", Path: path, GRPC: true, Body: frame(msg)}
}

func grpcPredict(msg ...[]byte) Request { return grpcReq(pathPredict, cat(msg...)) }

// gp is the Predict target with the default signature.
func gp(model string) Target {
	return Target{API: Predict, Model: model, Signature: DefaultSignature, Call: "PredictionService/Predict"}
}

func TestParseGRPCMethods(t *testing.T) {
	body := spec(fName("m"))
	call := func(api API, call, sig string) []Target {
		return []Target{{API: api, Model: "m", Signature: sig, Call: call}}
	}
	noModel := func(api API, call string) []Target { return []Target{{API: api, Call: call}} }
	runCases(t, map[string]testCase{
		"predict":            {req: grpcReq(pathPredict, body), want: call(Predict, "PredictionService/Predict", DefaultSignature)},
		"classify":           {req: grpcReq("/tensorflow.serving.PredictionService/Classify", body), want: call(Classify, "PredictionService/Classify", DefaultSignature)},
		"regress":            {req: grpcReq("/tensorflow.serving.PredictionService/Regress", body), want: call(Regress, "PredictionService/Regress", DefaultSignature)},
		"metadata":           {req: grpcReq(pathMetadata, body), want: call(ModelMetadata, "PredictionService/GetModelMetadata", "")},
		"status":             {req: grpcReq(pathStatus, body), want: call(ModelStatus, "ModelService/GetModelStatus", "")},
		"session run":        {req: grpcReq("/tensorflow.serving.SessionService/SessionRun", body), want: call(SessionRun, "SessionService/SessionRun", DefaultSignature)},
		"reload config":      {req: Request{Path: "/tensorflow.serving.ModelService/HandleReloadConfigRequest", GRPC: true}, want: noModel(ReloadConfig, "ModelService/HandleReloadConfigRequest")},
		"reload config body": {req: grpcReq("/tensorflow.serving.ModelService/HandleReloadConfigRequest", []byte{0xff}), want: noModel(ReloadConfig, "ModelService/HandleReloadConfigRequest")},
		"profiler":           {req: Request{Path: "/tensorflow.ProfilerService/Profile", GRPC: true}, want: noModel(Profiler, "ProfilerService/Profile")},
		"profiler monitor":   {req: Request{Path: "/tensorflow.ProfilerService/Monitor", GRPC: true, PartialBody: true}, want: noModel(Profiler, "ProfilerService/Monitor")},
		"health check":       {req: Request{Path: "/grpc.health.v1.Health/Check", GRPC: true}, want: noModel(Health, "Health/Check")},
		"health watch":       {req: Request{Path: "/grpc.health.v1.Health/Watch", GRPC: true}, want: noModel(Health, "Health/Watch")},
		"health no method":   {req: Request{Path: "/grpc.health.v1.Health/", GRPC: true}, want: noModel(Unknown, "")},
		"health query":       {req: Request{Path: "/grpc.health.v1.Health/Check?x=1", GRPC: true}, want: noModel(Unknown, "")},
		"profiler subpath":   {req: Request{Path: "/tensorflow.ProfilerService/Profile/x", GRPC: true}, want: noModel(Unknown, "")},
		"lower-case method":  {req: grpcReq("/tensorflow.serving.PredictionService/predict", body), want: noModel(Unknown, "")},
		"query string":       {req: grpcReq(pathPredict+"?x=1", body), want: noModel(Unknown, "")},
		"trailing slash":     {req: grpcReq(pathPredict+"/", body), want: noModel(Unknown, "")},
		"no leading slash":   {req: grpcReq(pathPredict[1:], body), want: noModel(Unknown, "")},
		"REST path":          {req: Request{Method: "POST", Path: "/v1/models/m:predict", GRPC: true}, want: noModel(Unknown, "")},
		"unknown service":    {req: Request{Path: "/tensorflow.serving.AdminService/Do", GRPC: true}, want: noModel(Unknown, "")},
		"reflection":         {req: Request{Path: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", GRPC: true}, want: noModel(Unknown, "")},
	})
}

func TestParseGRPCFrame(t *testing.T) {
	good := frame(spec(fName("m")))
	req := func(body []byte) Request { return Request{Path: pathPredict, GRPC: true, Body: body} }
	compressed := bytes.Clone(good)
	compressed[0] = 1
	flag2 := bytes.Clone(good)
	flag2[0] = 2
	runCases(t, map[string]testCase{
		"ok":              {req: req(good), want: []Target{gp("m")}},
		"nil body":        {req: req(nil), err: []error{ErrNoBody}},
		"empty body":      {req: req([]byte{}), err: []error{ErrNoBody}},
		"partial":         {req: Request{Path: pathPredict, GRPC: true, Body: good, PartialBody: true}, err: []error{ErrPartialBody}},
		"partial no body": {req: Request{Path: pathPredict, GRPC: true, PartialBody: true}, err: []error{ErrPartialBody}},
		"4 bytes":         {req: req(good[:4]), err: []error{ErrTruncated}},
		"header only":     {req: req(good[:5]), err: []error{ErrTruncated}},
		"truncated":       {req: req(good[:len(good)-1]), err: []error{ErrTruncated}},
		"trailing bytes":  {req: req(append(bytes.Clone(good), 0)), err: []error{ErrTrailingBytes}},
		"two frames":      {req: req(cat(good, good)), err: []error{ErrTrailingBytes}},
		"compressed":      {req: req(compressed), err: []error{ErrCompressed}},
		"compressed gzip": {req: Request{Path: pathPredict, GRPC: true, Body: compressed}, err: []error{ErrCompressed}},
		"flag 2":          {req: req(flag2), err: []error{ErrMalformedFrame}},
		"flag 0x80":       {req: req(append([]byte{0x80}, good[1:]...)), err: []error{ErrMalformedFrame}},
		"huge length":     {req: req([]byte{0, 0xff, 0xff, 0xff, 0xff, 1}), err: []error{ErrTruncated}},
		"empty message":   {req: req(frame(nil)), err: []error{ErrNoModelSpec}},
	})
}

func TestParseGRPCModelSpec(t *testing.T) {
	emptyWrapper := lenField(2)
	runCases(t, map[string]testCase{
		"name":                 {req: grpcPredict(spec(fName("m"))), want: []Target{gp("m")}},
		"signature":            {req: grpcPredict(spec(fName("m"), fSig("s"))), want: []Target{withSig(gp("m"), "s")}},
		"version":              {req: grpcPredict(spec(fName("m"), fVersion(3))), want: []Target{withVersion(gp("m"), 3)}},
		"label":                {req: grpcPredict(spec(fName("m"), fLabel("stable"))), want: []Target{withLabel(gp("m"), "stable")}},
		"empty label present":  {req: grpcPredict(spec(fName("m"), fLabel(""))), want: []Target{withLabel(gp("m"), "")}},
		"empty wrapper":        {req: grpcPredict(spec(fName("m"), emptyWrapper)), want: []Target{withVersion(gp("m"), 0)}},
		"negative version":     {req: grpcPredict(spec(fName("m"), fVersion(-1))), want: []Target{withVersion(gp("m"), -1)}},
		"min int64 version":    {req: grpcPredict(spec(fName("m"), fVersion(-1<<63))), want: []Target{withVersion(gp("m"), -1<<63)}},
		"fields in any order":  {req: grpcPredict(spec(fSig("s"), fVersion(2), fName("m"))), want: []Target{withSig(withVersion(gp("m"), 2), "s")}},
		"spec after inputs":    {req: grpcPredict(lenField(2, strField(1, "x")), spec(fName("m"))), want: []Target{gp("m")}},
		"last name wins":       {req: grpcPredict(spec(fName("a"), fName("b"))), want: []Target{gp("b")}},
		"smuggled second spec": {req: grpcPredict(spec(fName("allowed"), fVersion(1)), lenField(2), spec(fName("secret"))), want: []Target{withVersion(gp("secret"), 1)}},
		"second spec merges":   {req: grpcPredict(spec(fName("m"), fSig("s")), spec(fVersion(4))), want: []Target{withSig(withVersion(gp("m"), 4), "s")}},
		"last signature wins":  {req: grpcPredict(spec(fName("m"), fSig("a")), spec(fSig("b"))), want: []Target{withSig(gp("m"), "b")}},
		"empty signature last": {req: grpcPredict(spec(fName("m"), fSig("a"), fSig(""))), want: []Target{gp("m")}},
		"version then label":   {req: grpcPredict(spec(fName("m"), fVersion(5), fLabel("x"))), want: []Target{withLabel(gp("m"), "x")}},
		"label then version":   {req: grpcPredict(spec(fName("m"), fLabel("x"), fVersion(5))), want: []Target{withVersion(gp("m"), 5)}},
		"version label version": {
			req:  grpcPredict(spec(fName("m"), fVersion(5)), spec(fLabel("x")), spec(emptyWrapper)),
			want: []Target{withVersion(gp("m"), 0)},
		},
		"version merges":     {req: grpcPredict(spec(fName("m"), fVersion(5), emptyWrapper)), want: []Target{withVersion(gp("m"), 5)}},
		"version replaced":   {req: grpcPredict(spec(fName("m"), fVersion(5)), spec(fVersion(7))), want: []Target{withVersion(gp("m"), 7)}},
		"value last wins":    {req: grpcPredict(spec(fName("m"), lenField(2, varintField(1, 1), varintField(1, 9)))), want: []Target{withVersion(gp("m"), 9)}},
		"label then label":   {req: grpcPredict(spec(fName("m"), fLabel("a"), fLabel("b"))), want: []Target{withLabel(gp("m"), "b")}},
		"value wrong type":   {req: grpcPredict(spec(fName("m"), lenField(2, varintField(1, 3), fixed32Field(1, 9)))), want: []Target{withVersion(gp("m"), 3)}},
		"wrapper unknown":    {req: grpcPredict(spec(fName("m"), lenField(2, varintField(1, 3), strField(2, "x"), groupField(5)))), want: []Target{withVersion(gp("m"), 3)}},
		"version wrong type": {req: grpcPredict(spec(fName("m"), varintField(2, 3))), want: []Target{gp("m")}},
		"label wrong type":   {req: grpcPredict(spec(fName("m"), fVersion(1), varintField(4, 3))), want: []Target{withVersion(gp("m"), 1)}},
		"name wrong type":    {req: grpcPredict(spec(fName("m"), varintField(1, 7))), want: []Target{gp("m")}},
		"spec wrong type":    {req: grpcPredict(varintField(1, 1), spec(fName("m")), fixed32Field(1, 0)), want: []Target{gp("m")}},
		"spec group":         {req: grpcPredict(groupField(1, fName("x")), spec(fName("m"))), want: []Target{gp("m")}},
		"unknown fields": {
			req:  grpcPredict(varintField(99, 1), groupField(7, varintField(1, 1), groupField(8)), spec(varintField(10, 1), fName("m"), groupField(11, fName("x")), fixed32Field(12, 1)), strField(6, "client")),
			want: []Target{gp("m")},
		},
		"only wrong type spec": {req: grpcPredict(varintField(1, 1)), err: []error{ErrNoModelSpec}},
		"no spec":              {req: grpcPredict(lenField(2)), err: []error{ErrNoModelSpec}},
		"empty spec":           {req: grpcPredict(spec()), err: []error{ErrEmptyModel}},
		"empty name":           {req: grpcPredict(spec(fName(""), fVersion(1))), err: []error{ErrEmptyModel}},
		"name cleared":         {req: grpcPredict(spec(fName("m")), spec(fName(""))), err: []error{ErrEmptyModel}},
		"bad utf8 name":        {req: grpcPredict(spec(fName("m\xff"))), err: []error{ErrMalformedMessage}},
		"bad utf8 overwritten": {req: grpcPredict(spec(fName("\xff"), fName("m"))), err: []error{ErrMalformedMessage}},
		"bad utf8 signature":   {req: grpcPredict(spec(fName("m"), fSig("\xc3"))), err: []error{ErrMalformedMessage}},
		"bad utf8 label":       {req: grpcPredict(spec(fName("m"), fLabel("\xed\xa0\x80"))), err: []error{ErrMalformedMessage}},
		"bad utf8 unknown ok":  {req: grpcPredict(spec(fName("m"), strField(9, "\xff")), strField(6, "\xff")), want: []Target{gp("m")}},
		"truncated tag":        {req: grpcPredict(spec(fName("m")), []byte{0x80}), err: []error{ErrMalformedMessage}},
		"truncated length":     {req: grpcPredict([]byte{0x0a, 0x05, 0x0a}), err: []error{ErrMalformedMessage}},
		"field number 0":       {req: grpcPredict(spec(fName("m")), []byte{0x00, 0x00}), err: []error{ErrMalformedMessage}},
		"field number 2^29":    {req: grpcPredict(spec(fName("m")), lenField(1<<29)), err: []error{ErrMalformedMessage}},
		"field number max":     {req: grpcPredict(spec(fName("m")), lenField(protowire.MaxValidNumber)), want: []Target{gp("m")}},
		"wire type 7":          {req: grpcPredict(spec(fName("m")), []byte{0x0f}), err: []error{ErrMalformedMessage}},
		"unmatched end group":  {req: grpcPredict(spec(fName("m")), []byte{0x0c}), err: []error{ErrMalformedMessage}},
		"unclosed group":       {req: grpcPredict(spec(fName("m")), []byte{0x0b}), err: []error{ErrMalformedMessage}},
		"spec split across":    {req: grpcPredict(lenField(1, []byte{0x0a}), lenField(1, []byte{0x01, 'x'})), err: []error{ErrMalformedMessage}},
		"bad varint in value":  {req: grpcPredict(spec(fName("m"), lenField(2, []byte{0x08, 0xff}))), err: []error{ErrMalformedMessage}},
		"varint overflow":      {req: grpcPredict(spec(fName("m"), lenField(2, []byte{0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}))), err: []error{ErrMalformedMessage}},
		"spec too large":       {req: grpcPredict(spec(fName("m"), strField(9, strings.Repeat("x", maxSpecBytes)))), err: []error{ErrTooLarge}},
		"specs too large":      {req: grpcPredict(spec(fName("m"), strField(9, strings.Repeat("x", maxSpecBytes/2))), spec(strField(9, strings.Repeat("x", maxSpecBytes/2)))), err: []error{ErrTooLarge}},
	})
}

func TestParseGRPCPerMethodRules(t *testing.T) {
	s := spec(fName("m"), fLabel("stable"), fSig("sig"))
	v := spec(fName("m"), fVersion(2), fSig("sig"))
	runCases(t, map[string]testCase{
		"status drops label": {req: grpcReq(pathStatus, s), want: []Target{{API: ModelStatus, Model: "m", Call: "ModelService/GetModelStatus"}}},
		"status keeps version": {
			req:  grpcReq(pathStatus, v),
			want: []Target{{API: ModelStatus, Model: "m", Version: 2, HasVersion: true, Call: "ModelService/GetModelStatus"}},
		},
		"status without spec": {req: grpcReq(pathStatus, nil), err: []error{ErrNoModelSpec}},
		"metadata keeps label, drops signature": {
			req:  grpcReq(pathMetadata, cat(s, strField(2, "signature_def"))),
			want: []Target{{API: ModelMetadata, Model: "m", Label: "stable", HasLabel: true, Call: "PredictionService/GetModelMetadata"}},
		},
		"session run": {
			req:  grpcReq("/tensorflow.serving.SessionService/SessionRun", cat(v, strField(3, "fetch"))),
			want: []Target{{API: SessionRun, Model: "m", Version: 2, HasVersion: true, Signature: "sig", Call: "SessionService/SessionRun"}},
		},
	})
}

func mi(model, sig, method string) Target {
	return Target{API: MultiInference, Model: model, Signature: sig, Method: method, Call: "PredictionService/MultiInference"}
}

func TestParseGRPCMultiInference(t *testing.T) {
	const cls, reg = "tensorflow/serving/classify", "tensorflow/serving/regress"
	input := lenField(2, lenField(1))
	runCases(t, map[string]testCase{
		"one task": {req: grpcReq(pathMulti, cat(taskField(cls, fName("m"), fSig("a")), input)), want: []Target{mi("m", "a", cls)}},
		"task 0 version applies": {
			req: grpcReq(pathMulti, cat(
				taskField(cls, fName("m"), fVersion(1), fSig("a")),
				taskField(reg, fName("m"), fVersion(99), fSig("b")),
				taskField(reg, fName("m"), fLabel("canary")))),
			want: []Target{withVersion(mi("m", "a", cls), 1), withVersion(mi("m", "b", reg), 1), withVersion(mi("m", DefaultSignature, reg), 1)},
		},
		"task 0 label applies": {
			req:  grpcReq(pathMulti, cat(taskField(cls, fName("m"), fLabel("x")), taskField(reg, fName("m"), fVersion(3)))),
			want: []Target{withLabel(mi("m", DefaultSignature, cls), "x"), withLabel(mi("m", DefaultSignature, reg), "x")},
		},
		"task merges its specs": {
			req:  grpcReq(pathMulti, lenField(1, spec(fName("a")), strField(2, cls), spec(fName("m"), fVersion(4)), strField(2, reg))),
			want: []Target{withVersion(mi("m", DefaultSignature, reg), 4)},
		},
		"input first":         {req: grpcReq(pathMulti, cat(input, taskField(cls, fName("m")))), want: []Target{mi("m", DefaultSignature, cls)}},
		"no method":           {req: grpcReq(pathMulti, lenField(1, spec(fName("m")))), want: []Target{mi("m", DefaultSignature, "")}},
		"no tasks":            {req: grpcReq(pathMulti, input), err: []error{ErrMultiInferenceMismatch}},
		"empty message":       {req: grpcReq(pathMulti, nil), err: []error{ErrMultiInferenceMismatch}},
		"one other model":     {req: grpcReq(pathMulti, cat(taskField(cls, fName("m")), taskField(reg, fName("secret")))), err: []error{ErrMultiInferenceMismatch}},
		"later task no model": {req: grpcReq(pathMulti, cat(taskField(cls, fName("m")), taskField(reg))), err: []error{ErrMultiInferenceMismatch, ErrEmptyModel}},
		"task without spec":   {req: grpcReq(pathMulti, cat(taskField(cls, fName("m")), lenField(1, strField(2, reg)))), err: []error{ErrMultiInferenceMismatch, ErrNoModelSpec}},
		"empty task":          {req: grpcReq(pathMulti, lenField(1)), err: []error{ErrMultiInferenceMismatch, ErrNoModelSpec}},
		"bad utf8 method":     {req: grpcReq(pathMulti, taskField("\xff", fName("m"))), err: []error{ErrMalformedMessage}},
		"bad utf8 late task":  {req: grpcReq(pathMulti, cat(taskField(cls, fName("m")), taskField(reg, fName("m"), fSig("\xff")))), err: []error{ErrMalformedMessage}},
		"task wrong type":     {req: grpcReq(pathMulti, cat(varintField(1, 5), taskField(cls, fName("m")))), want: []Target{mi("m", DefaultSignature, cls)}},
		"too many tasks":      {req: grpcReq(pathMulti, bytes.Repeat(taskField(cls, fName("m")), maxTasks+1)), err: []error{ErrTooLarge}},
		"three tasks":         {req: grpcReq(pathMulti, bytes.Repeat(taskField(cls, fName("m")), 3)), want: []Target{mi("m", DefaultSignature, cls), mi("m", DefaultSignature, cls), mi("m", DefaultSignature, cls)}},
		"compressed":          {req: Request{Path: pathMulti, GRPC: true, Body: append([]byte{1}, frame(taskField(cls, fName("m")))[1:]...)}, err: []error{ErrCompressed}},
	})
}
