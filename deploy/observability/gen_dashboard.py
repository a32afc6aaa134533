#!/usr/bin/env python3
"""Writes grafana-dashboard.json: run it after editing the panels below.
The JSON is what ships; this script only keeps it consistent."""
import json

DS = {"type": "prometheus", "uid": "${datasource}"}
panels, y = [], 0

def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1

def panel(title, exprs, unit="short", kind="timeseries", w=8, h=8, desc=""):
    global y
    x = sum(p["gridPos"]["w"] for p in panels if p["gridPos"]["y"] == y and p["type"] != "row")
    if x + w > 24:
        y += h
        x = 0
    targets = [{"datasource": DS, "expr": e, "legendFormat": l, "refId": chr(65 + i), "exemplar": kind == "timeseries"}
               for i, (e, l) in enumerate(exprs)]
    panels.append({"type": kind, "title": title, "description": desc, "datasource": DS,
                   "gridPos": {"h": h, "w": w, "x": x, "y": y}, "targets": targets,
                   "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}})

def next_row():
    global y
    y += 8

row("Checks")
panel("Checks per second by result", [('sum by (result, kind) (rate(tfgate_checks_total{job=~"$job"}[$__rate_interval]))', "{{result}} {{kind}}")], "reqps")
panel("Could-not-decide ratio", [('sum(rate(tfgate_checks_total{job=~"$job",result="error"}[$__rate_interval])) / sum(rate(tfgate_checks_total{job=~"$job"}[$__rate_interval]))', "errors")], "percentunit",
      desc="Envoy denies these (failure_mode_allow: false). Alert: TfgateCheckErrors.")
panel("Check latency (p50, p99) by result", [
    ('histogram_quantile(0.99, sum by (le, result) (rate(tfgate_check_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))', "p99 {{result}}"),
    ('histogram_quantile(0.5, sum by (le, result) (rate(tfgate_check_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))', "p50 {{result}}")], "s",
      desc="Exemplars link slow Checks to their traces (OpenMetrics scrape, tracing on).")
next_row()
panel("Checks in flight", [('sum(tfgate_checks_in_flight{job=~"$job"})', "in flight")])
panel("Decision-log lines skipped (browser noise)", [('sum(rate(tfgate_decision_log_skipped_total{job=~"$job"}[$__rate_interval]))', "skipped")], "reqps")
panel("Build", [('tfgate_build_info{job=~"$job"}', "{{instance}} {{version}}")], kind="table")
next_row()
panel("Checks shed (overload) by reason", [('sum by (reason) (rate(tfgate_checks_shed_total{job=~"$job"}[$__rate_interval]))', "{{reason}}")], "reqps",
      desc="RESOURCE_EXHAUSTED before deciding (listen.limits): Envoy denies these. Alert: TfgateChecksShed.")
next_row()
row("Sessions and Redis")
panel("Session cache hit ratio", [('sum(rate(tfgate_session_cache_lookups_total{job=~"$job",result="hit"}[$__rate_interval])) / sum(rate(tfgate_session_cache_lookups_total{job=~"$job"}[$__rate_interval]))', "hit ratio")], "percentunit")
panel("Session lookup latency (p99) by store and source", [('histogram_quantile(0.99, sum by (le, store, source) (rate(tfgate_session_lookup_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))', "{{store}} {{source}}")], "s",
      desc="source=cache: answered by the local cache in front of Redis; source=store: Redis (or the memory store) itself.")
panel("Redis errors by kind", [('sum by (kind) (rate(tfgate_session_redis_errors_total{job=~"$job"}[$__rate_interval]))', "{{kind}}")], "ops")
next_row()
panel("Redis reachable", [('min by (instance) (tfgate_redis_up{job=~"$job"})', "{{instance}}")], kind="stat")
panel("Invalidation subscription up", [('min by (instance) (tfgate_session_invalidation_subscribed{job=~"$job"})', "{{instance}}")], kind="stat")
panel("Invalidation lag (p50, p99)", [
    ('histogram_quantile(0.99, sum by (le) (rate(tfgate_session_invalidation_lag_seconds_bucket{job=~"$job"}[$__rate_interval])))', "p99"),
    ('histogram_quantile(0.5, sum by (le) (rate(tfgate_session_invalidation_lag_seconds_bucket{job=~"$job"}[$__rate_interval])))', "p50")], "s",
      desc="From a replica publishing a revocation to this one dropping it from its cache (clock skew between replicas included). Alert: TfgateSessionInvalidationLagHigh.")
panel("Redis pool", [('sum by (state) (tfgate_redis_pool_connections{job=~"$job"})', "{{state}} connections"),
                      ('sum by (event) (rate(tfgate_redis_pool_events_total{job=~"$job"}[$__rate_interval]))', "{{event}}/s")])
next_row()
panel("Cache entries and evictions", [('sum by (store) (tfgate_session_cache_entries{job=~"$job"})', "{{store}} entries"),
                                      ('sum(rate(tfgate_session_cache_evictions_total{job=~"$job"}[$__rate_interval]))', "evictions/s")], w=12)
next_row()
row("Policy")
panel("Revision in force", [('count by (revision) (tfgate_policy_info{job=~"$job"})', "{{revision}}")], kind="table",
      desc="More than one row: replicas disagree on the policy.")
panel("Last reload worked", [('min(tfgate_policy_last_reload_ok{job=~"$job"})', "ok")], kind="stat",
      desc="0: the newest files failed to load and an older revision decides. Alert: TfgatePolicyReloadFailed.")
panel("Reloads by result", [('sum by (result) (increase(tfgate_policy_reloads_total{job=~"$job"}[$__range]))', "{{result}}")], kind="stat")
next_row()
panel("Policy evaluation latency (p99) by cached", [('histogram_quantile(0.99, sum by (le, cached) (rate(tfgate_policy_evaluation_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))', "cached={{cached}}")], "s")
panel("Decision cache hit ratio", [('sum(rate(tfgate_policy_decision_cache_lookups_total{job=~"$job",result="hit"}[$__rate_interval])) / sum(rate(tfgate_policy_decision_cache_lookups_total{job=~"$job"}[$__rate_interval]))', "hit ratio")], "percentunit")
panel("Seconds since the policy in force loaded", [('max(tfgate_policy_seconds_since_last_reload_success{job=~"$job"})', "age")], "s", kind="stat")
next_row()
row("Identity providers")
panel("Signing certificate expires in", [('min by (idp) (tfgate_idp_signing_cert_expiry_seconds{job=~"$job"})', "{{idp}}")], "s", kind="stat",
      desc="Alert below 14 days: TfgateIdPCertificateExpiring.")
panel("Metadata validUntil in", [('min by (idp) (tfgate_idp_metadata_valid_until_seconds{job=~"$job"})', "{{idp}}")], "s", kind="stat")
next_row()
panel("Sign-ins (ACS) by outcome", [('sum by (outcome) (rate(tfgate_saml_events_total{job=~"$job",event="acs"}[$__rate_interval]))', "{{outcome}}")], "ops",
      desc="outcome: success, or the reason code (replay, expired, audience, signature, ...).")
panel("Token grants by type and outcome", [('sum by (grant, outcome) (rate(tfgate_saml_events_total{job=~"$job",event="token"}[$__rate_interval]))', "{{grant}} {{outcome}}")], "ops")
panel("Token reuse detections and revocations", [('sum by (event, grant) (increase(tfgate_saml_events_total{job=~"$job",event=~"reuse|revoke"}[$__rate_interval]))', "{{event}} {{grant}}")],
      desc="A reused refresh token or code revokes its grant's tokens: a stolen token, or a client bug.")
panel("Metadata refreshes by result", [('sum by (idp, result) (increase(tfgate_idp_metadata_refreshes_total{job=~"$job"}[$__rate_interval]))', "{{idp}} {{result}}")])

dash = {
    "title": "tfgate", "uid": "tfgate", "schemaVersion": 39, "version": 1, "editable": True,
    "tags": ["tfgate", "envoy", "ext_authz"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
        {"name": "job", "type": "query", "datasource": DS, "query": "label_values(tfgate_build_info, job)",
         "includeAll": True, "multi": True, "current": {"text": "All", "value": "$__all"}, "refresh": 1},
    ]},
    "panels": panels,
}
with open("grafana-dashboard.json", "w") as f:
    json.dump(dash, f, indent=2)
    f.write("\n")
