package tfserving

import (
	"strings"
	"testing"
)

func post(path string) Request { return Request{Method: "POST", Path: path} }
func get(path string) Request  { return Request{Method: "GET", Path: path} }

func predictBody(path, body string) Request {
	return Request{Method: "POST", Path: path, Body: []byte(body)}
}

func predict(model string) Target {
	return Target{API: Predict, Model: model, Call: "POST :predict"}
}

func status(model string) Target {
	return Target{API: ModelStatus, Model: model, Call: callStatus}
}

func metadata(model string) Target {
	return Target{API: ModelMetadata, Model: model, Call: callMetadata}
}

func withVersion(t Target, v int64) Target { t.Version, t.HasVersion = v, true; return t }
func withLabel(t Target, l string) Target  { t.Label, t.HasLabel = l, true; return t }
func withSig(t Target, s string) Target    { t.Signature = s; return t }

func invalidT(method string) []Target { return []Target{{API: Invalid, Call: method}} }
func unknownT(method string) []Target { return []Target{{API: Unknown, Call: method}} }

func TestParseRESTPaths(t *testing.T) {
	runCases(t, map[string]testCase{
		"predict":           {req: post("/v1/models/resnet:predict"), want: []Target{predict("resnet")}},
		"classify":          {req: post("/v1/models/m:classify"), want: []Target{{API: Classify, Model: "m", Call: "POST :classify"}}},
		"regress":           {req: post("/v1/models/half_plus_three:regress"), want: []Target{{API: Regress, Model: "half_plus_three", Call: "POST :regress"}}},
		"version":           {req: post("/v1/models/m/versions/3:predict"), want: []Target{withVersion(predict("m"), 3)}},
		"version 007":       {req: post("/v1/models/m/versions/007:predict"), want: []Target{withVersion(predict("m"), 7)}},
		"version 0":         {req: post("/v1/models/m/versions/0:predict"), want: []Target{withVersion(predict("m"), 0)}},
		"version max int64": {req: post("/v1/models/m/versions/9223372036854775807:predict"), want: []Target{withVersion(predict("m"), 1<<63-1)}},
		"version overflow":  {req: post("/v1/models/m/versions/9223372036854775808:predict"), want: invalidT("POST")},
		"version long zeros": {
			req:  post("/v1/models/m/versions/" + strings.Repeat("0", 40) + "12:predict"),
			want: []Target{withVersion(predict("m"), 12)},
		},
		"version not digits":  {req: post("/v1/models/m/versions/1a:predict"), want: invalidT("POST")},
		"version negative":    {req: post("/v1/models/m/versions/-1:predict"), want: invalidT("POST")},
		"version empty":       {req: post("/v1/models/m/versions/:predict"), want: invalidT("POST")},
		"label":               {req: post("/v1/models/m/labels/stable:predict"), want: []Target{withLabel(predict("m"), "stable")}},
		"label decoded":       {req: post("/v1/models/m/labels/can%61ry:predict"), want: []Target{withLabel(predict("m"), "canary")}},
		"label empty":         {req: post("/v1/models/m/labels/:predict"), want: invalidT("POST")},
		"version and label":   {req: post("/v1/models/m/versions/1/labels/x:predict"), want: invalidT("POST")},
		"upper-case path":     {req: post("/V1/MODELS/ResNet/VERSIONS/2:predict"), want: []Target{withVersion(predict("ResNet"), 2)}},
		"upper-case labels":   {req: post("/v1/Models/m/LABELS/Stable:predict"), want: []Target{withLabel(predict("m"), "Stable")}},
		"long s folds to s":   {req: post("/v1/model\u017f/m/ver\u017fion\u017f/4:predict"), want: []Target{withVersion(predict("m"), 4)}},
		"upper-case verb":     {req: post("/v1/models/m:PREDICT"), want: invalidT("POST")},
		"mixed-case verb":     {req: post("/v1/models/m:Predict"), want: invalidT("POST")},
		"long s in verb":      {req: post("/v1/models/m:regre\u017f\u017f"), want: invalidT("POST")},
		"unknown verb":        {req: post("/v1/models/m:explain"), want: invalidT("POST")},
		"verb suffix":         {req: post("/v1/models/m:predictx"), want: invalidT("POST")},
		"two verbs":           {req: post("/v1/models/m:predict:predict"), want: invalidT("POST")},
		"no verb":             {req: post("/v1/models/m"), want: invalidT("POST")},
		"empty name":          {req: post("/v1/models/:predict"), want: invalidT("POST")},
		"trailing slash":      {req: post("/v1/models/m/:predict"), want: invalidT("POST")},
		"extra segment":       {req: post("/v1/models/m/x:predict"), want: invalidT("POST")},
		"query after verb":    {req: post("/v1/models/m:predict?x=1"), want: invalidT("POST")},
		"query inside name":   {req: post("/v1/models/m?a=b:predict"), want: []Target{predict("m?a=b")}},
		"fragment in name":    {req: post("/v1/models/m#x:predict"), want: []Target{predict("m#x")}},
		"percent 6E":          {req: post("/v1/models/res%6Eet:predict"), want: []Target{predict("resnet")}},
		"percent 2F":          {req: post("/v1/models/a%2Fb:predict"), want: []Target{predict("a/b")}},
		"percent 3A":          {req: post("/v1/models/a%3Ab:predict"), want: []Target{predict("a:b")}},
		"percent lower hex":   {req: post("/v1/models/a%2fb:predict"), want: []Target{predict("a/b")}},
		"percent not hex":     {req: post("/v1/models/a%zzb:predict"), want: []Target{predict("a%zzb")}},
		"percent short":       {req: post("/v1/models/a%4:predict"), want: []Target{predict("a%4")}},
		"percent at end":      {req: post("/v1/models/100%25%:predict"), want: []Target{predict("100%%")}},
		"percent 00":          {req: post("/v1/models/a%00b:predict"), want: []Target{predict("a\x00b")}},
		"percent twice":       {req: post("/v1/models/%2541:predict"), want: []Target{predict("%41")}},
		"plus stays":          {req: post("/v1/models/a+b:predict"), want: []Target{predict("a+b")}},
		"decodes to bad utf8": {req: post("/v1/models/a%FF:predict"), want: invalidT("POST")},
		"decodes to utf8":     {req: post("/v1/models/caf%C3%A9:predict"), want: []Target{predict("café")}},
		"raw utf8 name":       {req: post("/v1/models/caf\u00e9:predict"), want: []Target{predict("café")}},
		"raw bad utf8":        {req: post("/v1/models/a\xff:predict"), want: invalidT("POST")},
		"double slash":        {req: post("//v1/models/m:predict"), want: unknownT("POST")},
		"no v1":               {req: post("/v2/models/m:predict"), want: unknownT("POST")},
		"newline":             {req: post("/v1/models/m\n:predict"), want: unknownT("POST")},
		"lower-case method":   {req: Request{Method: "post", Path: "/v1/models/m:predict"}, want: invalidT("post")},

		"status":                    {req: get("/v1/models/m"), want: []Target{status("m")}},
		"status version":            {req: get("/v1/models/m/versions/3"), want: []Target{withVersion(status("m"), 3)}},
		"status label ignored":      {req: get("/v1/models/m/labels/stable"), want: []Target{status("m")}},
		"status METADATA":           {req: get("/v1/models/m/METADATA"), want: []Target{status("m")}},
		"status Metadata version":   {req: get("/v1/models/m/versions/2/Metadata"), want: []Target{withVersion(status("m"), 2)}},
		"status query":              {req: get("/v1/models/m?x=1"), want: []Target{status("m?x=1")}},
		"status model metadata":     {req: get("/v1/models/metadata"), want: []Target{status("metadata")}},
		"status overflow":           {req: get("/v1/models/m/versions/99999999999999999999"), want: invalidT("GET")},
		"status upper-case":         {req: get("/V1/MODELS/m/VERSIONS/5"), want: []Target{withVersion(status("m"), 5)}},
		"status decoded":            {req: get("/v1/models/res%6Eet"), want: []Target{status("resnet")}},
		"metadata":                  {req: get("/v1/models/m/metadata"), want: []Target{metadata("m")}},
		"metadata version":          {req: get("/v1/models/m/versions/3/metadata"), want: []Target{withVersion(metadata("m"), 3)}},
		"metadata label":            {req: get("/v1/models/m/labels/stable/metadata"), want: []Target{withLabel(metadata("m"), "stable")}},
		"metadata upper-case path":  {req: get("/V1/Models/m/Labels/x/metadata"), want: []Target{withLabel(metadata("m"), "x")}},
		"metadata of model labels":  {req: get("/v1/models/labels/metadata"), want: []Target{metadata("labels")}},
		"metadata label metadata":   {req: get("/v1/models/m/labels/metadata"), want: []Target{status("m")}},
		"metadata query":            {req: get("/v1/models/m/metadata?x=1"), want: invalidT("GET")},
		"metadata twice":            {req: get("/v1/models/m/metadata/metadata"), want: invalidT("GET")},
		"no model":                  {req: get("/v1/models"), want: invalidT("GET")},
		"no model slash":            {req: get("/v1/models/"), want: invalidT("GET")},
		"no model version":          {req: get("/v1/models/versions/3"), want: invalidT("GET")},
		"no model label":            {req: get("/v1/models/labels/x"), want: invalidT("GET")},
		"no model query":            {req: get("/v1/models?x=1"), want: invalidT("GET")},
		"get verb":                  {req: get("/v1/models/m:predict"), want: invalidT("GET")},
		"get other":                 {req: get("/v1/other"), want: invalidT("GET")},
		"get v1 root":               {req: get("/v1/"), want: invalidT("GET")},
		"get v1 no slash":           {req: get("/v1"), want: unknownT("GET")},
		"get metrics":               {req: get("/monitoring/prometheus/metrics"), want: unknownT("GET")},
		"get root":                  {req: get("/"), want: unknownT("GET")},
		"options":                   {req: Request{Method: "OPTIONS", Path: "/v1/models/m:predict"}, want: []Target{{API: CORSPreflight, Call: "OPTIONS"}}},
		"options outside v1":        {req: Request{Method: "OPTIONS", Path: "/x"}, want: unknownT("OPTIONS")},
		"put":                       {req: Request{Method: "PUT", Path: "/v1/models/m"}, want: invalidT("PUT")},
		"delete":                    {req: Request{Method: "DELETE", Path: "/v1/models/m"}, want: invalidT("DELETE")},
		"head":                      {req: Request{Method: "HEAD", Path: "/v1/models/m"}, want: invalidT("HEAD")},
		"patch predict":             {req: Request{Method: "PATCH", Path: "/v1/models/m:predict"}, want: invalidT("PATCH")},
		"kelvin sign is not a k":    {req: get("/v1/models/\u212a"), want: []Target{status("\u212a")}},
		"long s model name kept":    {req: get("/v1/models/\u017f"), want: []Target{status("\u017f")}},
		"long s in metadata":        {req: get("/v1/models/m/meta\u017fata"), want: invalidT("GET")},
		"carriage return allowed":   {req: get("/v1/models/m\r"), want: []Target{status("m\r")}},
		"lone percent in label":     {req: get("/v1/models/m/labels/%/metadata"), want: []Target{withLabel(metadata("m"), "%")}},
		"label decodes to bad utf8": {req: get("/v1/models/m/labels/%C3/metadata"), want: invalidT("GET")},
	})
}

func TestParseRESTBody(t *testing.T) {
	const path = "/v1/models/m:predict"
	deep := `{"instances":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}`
	runCases(t, map[string]testCase{
		"no body":               {req: post(path), want: []Target{predict("m")}},
		"default":               {req: predictBody(path, `{"instances":[1,2]}`), want: []Target{withSig(predict("m"), DefaultSignature)}},
		"named":                 {req: predictBody(path, `{"signature_name":"s","instances":[1]}`), want: []Target{withSig(predict("m"), "s")}},
		"named last":            {req: predictBody(path, `{"instances":[1], "signature_name" : "s" }`), want: []Target{withSig(predict("m"), "s")}},
		"empty is default":      {req: predictBody(path, `{"signature_name":""}`), want: []Target{withSig(predict("m"), DefaultSignature)}},
		"escaped key":           {req: predictBody(path, `{"signature\u005fname":"s"}`), want: []Target{withSig(predict("m"), "s")}},
		"escaped value":         {req: predictBody(path, `{"signature_name":"caf\u00e9\n\"x\"\/"}`), want: []Target{withSig(predict("m"), "café\n\"x\"/")}},
		"surrogate pair":        {req: predictBody(path, `{"signature_name":"\ud83d\ude00"}`), want: []Target{withSig(predict("m"), "😀")}},
		"nested is not it":      {req: predictBody(path, `{"inputs":{"signature_name":"x"},"signature_name":"s"}`), want: []Target{withSig(predict("m"), "s")}},
		"nested only":           {req: predictBody(path, `{"inputs":{"signature_name":"x"}}`), want: []Target{withSig(predict("m"), DefaultSignature)}},
		"nan and infinity":      {req: predictBody(path, `{"instances":[NaN,-NaN,Infinity,-Infinity,Inf,-Inf,1e5,-0.5E-3,0]}`), want: []Target{withSig(predict("m"), DefaultSignature)}},
		"whitespace":            {req: predictBody(path, " \t\r\n{ \"signature_name\" :\n\"s\" } \n"), want: []Target{withSig(predict("m"), "s")}},
		"all value kinds":       {req: predictBody(path, `{"a":{"b":[true,false,null,"x",{},[]],"c":{"d":{}}},"signature_name":"s"}`), want: []Target{withSig(predict("m"), "s")}},
		"classify":              {req: predictBody("/v1/models/m:classify", `{"signature_name":"c","examples":[{}]}`), want: []Target{{API: Classify, Model: "m", Signature: "c", Call: "POST :classify"}}},
		"get ignores body":      {req: Request{Method: "GET", Path: "/v1/models/m", Body: []byte("not json")}, want: []Target{status("m")}},
		"invalid ignores body":  {req: predictBody("/v1/models/m:PREDICT", "not json"), want: invalidT("POST")},
		"duplicate":             {req: predictBody(path, `{"signature_name":"a","signature_name":"b"}`), err: []error{ErrMalformedJSON}},
		"duplicate escaped":     {req: predictBody(path, `{"signature_name":"a","signature\u005fname":"b"}`), err: []error{ErrMalformedJSON}},
		"duplicate same value":  {req: predictBody(path, `{"signature_name":"a","signature_name":"a"}`), err: []error{ErrMalformedJSON}},
		"not a string":          {req: predictBody(path, `{"signature_name":1}`), err: []error{ErrMalformedJSON}},
		"null signature":        {req: predictBody(path, `{"signature_name":null}`), err: []error{ErrMalformedJSON}},
		"lone surrogate":        {req: predictBody(path, `{"signature_name":"\ud83d"}`), err: []error{ErrMalformedJSON}},
		"lone low surrogate":    {req: predictBody(path, `{"signature_name":"\ude00"}`), err: []error{ErrMalformedJSON}},
		"bad utf8 signature":    {req: predictBody(path, "{\"signature_name\":\"\xff\"}"), err: []error{ErrMalformedJSON}},
		"control char":          {req: predictBody(path, "{\"signature_name\":\"a\tb\"}"), err: []error{ErrMalformedJSON}},
		"bad escape":            {req: predictBody(path, `{"a":"\x"}`), err: []error{ErrMalformedJSON}},
		"short unicode escape":  {req: predictBody(path, `{"a":"\u12"}`), err: []error{ErrMalformedJSON}},
		"array":                 {req: predictBody(path, `[{"signature_name":"s"}]`), err: []error{ErrMalformedJSON}},
		"trailing garbage":      {req: predictBody(path, `{"signature_name":"s"} x`), err: []error{ErrMalformedJSON}},
		"two objects":           {req: predictBody(path, `{}{}`), err: []error{ErrMalformedJSON}},
		"trailing comma":        {req: predictBody(path, `{"a":[1,],"signature_name":"s"}`), err: []error{ErrMalformedJSON}},
		"trailing comma object": {req: predictBody(path, `{"a":1,}`), err: []error{ErrMalformedJSON}},
		"unterminated":          {req: predictBody(path, `{"signature_name":"s"`), err: []error{ErrMalformedJSON}},
		"unterminated string":   {req: predictBody(path, `{"signature_name":"s`), err: []error{ErrMalformedJSON}},
		"mismatched brackets":   {req: predictBody(path, `{"a":[1}`), err: []error{ErrMalformedJSON}},
		"bad number":            {req: predictBody(path, `{"a":01}`), err: []error{ErrMalformedJSON}},
		"bad literal":           {req: predictBody(path, `{"a":tru}`), err: []error{ErrMalformedJSON}},
		"infinit":               {req: predictBody(path, `{"a":Infinit}`), err: []error{ErrMalformedJSON}},
		"missing colon":         {req: predictBody(path, `{"a" 1}`), err: []error{ErrMalformedJSON}},
		"bom":                   {req: predictBody(path, "\ufeff{}"), err: []error{ErrMalformedJSON}},
		"too deep":              {req: predictBody(path, deep), err: []error{ErrMalformedJSON}},
		"partial body":          {req: Request{Method: "POST", Path: path, Body: []byte(`{}`), PartialBody: true}, err: []error{ErrPartialBody}},
	})
}
