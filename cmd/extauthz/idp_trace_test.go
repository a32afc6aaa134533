package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tfgate/tfgate/internal/devidp"
	"github.com/tfgate/tfgate/internal/otlptest"
	"github.com/tfgate/tfgate/telemetry"
)

// TestInitialMetadataLoadTraced: the IdP metadata loaded at startup gets
// a span, as refreshes do, exported to a real OTLP receiver; a load that
// fails is a span in error.
func TestInitialMetadataLoadTraced(t *testing.T) {
	rcv := otlptest.Start(t)
	one := 1.0
	tracer, err := telemetry.New(context.Background(), telemetry.Config{Enabled: true, Endpoint: rcv.URL, SampleRatio: &one})
	if err != nil || tracer == nil {
		t.Fatalf("telemetry.New = %v, %v", tracer, err)
	}
	idp, err := devidp.New(devidp.Config{BaseURL: "http://127.0.0.1:1", SPs: []devidp.SP{{EntityID: "x", ACSURLs: []string{"http://127.0.0.1:1/a"}}}})
	if err != nil {
		t.Fatal(err)
	}
	md, err := idp.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "idp.xml")
	if err := os.WriteFile(good, md, 0o600); err != nil {
		t.Fatal(err)
	}
	state := newIdPState(tracer)
	start := time.Now()
	if _, _, err := loadIdPs(context.Background(), SAMLConfig{IdPs: []IdPConfig{{Name: "corp", MetadataFile: good}}}, discardLog(), state); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadIdPs(context.Background(), SAMLConfig{IdPs: []IdPConfig{{Name: "broken", MetadataFile: filepath.Join(dir, "missing.xml")}}}, discardLog(), state); err == nil {
		t.Fatal("loading missing metadata worked")
	}
	if err := tracer.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	byIdP := map[string]otlptest.Span{}
	for _, s := range rcv.Spans() {
		if s.Name == "tfgate.idp_metadata_load" {
			byIdP[s.Attrs["tfgate.idp"]] = s
		}
	}
	corp, ok := byIdP["corp"]
	if !ok {
		t.Fatalf("no tfgate.idp_metadata_load span for corp in %+v", rcv.Spans())
	}
	if corp.StatusError || corp.ParentSpanID != "" || corp.Start.Before(start.Add(-time.Second)) || corp.End.Before(corp.Start) {
		t.Errorf("corp's load span %+v", corp)
	}
	if broken, ok := byIdP["broken"]; !ok || !broken.StatusError {
		t.Errorf("the failed load's span: %+v (found %v), want one in error", broken, ok)
	}
}
