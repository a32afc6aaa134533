# Tests of the default policy against the demo grants in data.yaml, plus
# fixture grants (with data.tfgate... as ...) for what the demo does not
# exercise. Run with `extauthz policy test`, which provides tfgate's built-in
# tfgate.model_grants (plain `opa test` does not know it).
package tfgate.authz_test

import rego.v1

import data.tfgate.authz

# --- helpers -------------------------------------------------------------

subject(groups) := {
	"id": "alice@example.com",
	"email": "alice@example.com",
	"groups": groups,
	"idp": "https://idp.example.com/metadata",
	"auth": "cookie",
	"expires_at": "2030-01-01T00:00:00Z",
}

target(api, model, version, label) := {
	"api": api,
	"model": model,
	"version": version,
	"label": label,
	"signature": "serving_default",
}

request := {"method": "POST", "path": "/v1/models/m:predict", "host": "tfs.example.com", "protocol": "rest"}

# decide(groups, api, model, version, label) is the decision for a signed-in caller.
decide(groups, api, model, version, label) := d if {
	d := authz.decision with input as {
		"subject": subject(groups),
		"request": request,
		"target": target(api, model, version, label),
	}
}

# scoped(scope, groups, api, model) is the decision for a scoped token.
scoped(scope, groups, api, model) := d if {
	d := authz.decision with input as {
		"subject": object.union(subject(groups), {"auth": "bearer", "scope": scope}),
		"request": request,
		"target": target(api, model, null, null),
	}
}

anonymous(api, model) := d if {
	d := authz.decision with input as {
		"subject": null,
		"request": request,
		"target": target(api, model, null, null),
	}
}

allowed(d) if {
	d.allow == true
	is_string(d.reason)
}

denied(d) if {
	d.allow == false
	is_string(d.reason)
	d.reason != ""
}

ml := ["ml-engineers"]

# --- ml-engineers: half_plus_two, all versions and labels -----------------

test_ml_engineers_predict_version if allowed(decide(ml, "predict", "half_plus_two", 3, null))

test_ml_engineers_predict_label if allowed(decide(ml, "predict", "half_plus_two", null, "canary"))

test_ml_engineers_predict_latest if allowed(decide(ml, "predict", "half_plus_two", null, null))

test_ml_engineers_classify_regress if {
	allowed(decide(ml, "classify", "half_plus_two", 1, null))
	allowed(decide(ml, "regress", "half_plus_two", null, "stable"))
}

test_ml_engineers_status_and_metadata if {
	allowed(decide(ml, "model_status", "half_plus_two", null, null))
	allowed(decide(ml, "model_metadata", "half_plus_two", 7, null))
}

test_allow_reason_names_group_and_target if {
	decide(ml, "predict", "half_plus_two", 3, null).reason == "group ml-engineers grants predict on model half_plus_two version 3"
}

test_ml_engineers_other_model_denied if {
	d := decide(ml, "predict", "half_plus_three", 1, null)
	denied(d)
	d.reason == "group membership does not grant predict on model half_plus_three version 1"
}

test_multi_inference_not_in_demo_grant if {
	d := decide(ml, "multi_inference", "half_plus_two", null, null)
	denied(d)
	d.reason == "group membership does not grant multi_inference on model half_plus_two (latest version)"
}

test_multi_inference_granted_by_star_api if {
	grants := {"g": [{"models": ["half_plus_two"], "versions": ["*"], "apis": ["*"]}]}
	allowed(decide(["g"], "multi_inference", "half_plus_two", 2, null)) with data.tfgate.grants as grants
}

test_multi_inference_granted_explicitly if {
	grants := {"g": [{"models": ["m"], "versions": [1], "apis": ["multi_inference"]}]}
	allowed(decide(["g"], "multi_inference", "m", 1, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", 1, null)) with data.tfgate.grants as grants
}

# --- groups ----------------------------------------------------------------

test_wrong_group_denied if denied(decide(["marketing"], "predict", "half_plus_two", 1, null))

test_no_groups_denied if {
	denied(decide([], "predict", "half_plus_two", 1, null))
	denied(decide(null, "predict", "half_plus_two", 1, null))
}

test_any_of_several_groups_grants if {
	d := decide(["marketing", "resnet-users", "ml-engineers"], "predict", "half_plus_two", 1, null)
	allowed(d)
	d.reason == "group ml-engineers grants predict on model half_plus_two version 1"
}

test_first_granting_group_in_sort_order if {
	d := decide(["resnet-users", "data-scientists"], "model_status", "resnet50", null, null)
	d.reason == "group data-scientists grants model_status on model resnet50 (all versions)"
}

test_single_grant_object_accepted if {
	grants := {"g": {"models": ["m"], "versions": ["*"], "apis": ["predict"]}}
	allowed(decide(["g"], "predict", "m", 1, null)) with data.tfgate.grants as grants
}

# --- data-scientists: status and metadata of any model --------------------

test_data_scientists_status_any_model if {
	allowed(decide(["data-scientists"], "model_status", "anything", null, null))
	allowed(decide(["data-scientists"], "model_metadata", "resnet50", 9, null))
	allowed(decide(["data-scientists"], "model_metadata", "resnet50", null, "canary"))
}

test_data_scientists_no_predict if {
	d := decide(["data-scientists"], "predict", "half_plus_two", 1, null)
	denied(d)
	d.reason == "group membership does not grant predict on model half_plus_two version 1"
}

# --- resnet-users: predict on resnet*, versions 1 and 2, label stable -----

test_glob_versions_allowed if {
	allowed(decide(["resnet-users"], "predict", "resnet50", 1, null))
	allowed(decide(["resnet-users"], "predict", "resnet101", 2, null))
}

test_glob_matches_empty_suffix_and_dots if {
	allowed(decide(["resnet-users"], "predict", "resnet", 1, null))
	allowed(decide(["resnet-users"], "predict", "resnet.v2", 1, null))
	allowed(decide(["resnet-users"], "predict", "resnet/50", 1, null))
}

test_glob_anchored_at_start if denied(decide(["resnet-users"], "predict", "my-resnet", 1, null))

test_wrong_version_denied if {
	d := decide(["resnet-users"], "predict", "resnet50", 3, null)
	denied(d)
	d.reason == "group membership does not grant predict on model resnet50 version 3"
}

test_version_zero_is_a_version if denied(decide(["resnet-users"], "predict", "resnet50", 0, null))

test_label_allowed if allowed(decide(["resnet-users"], "predict", "resnet50", null, "stable"))

test_wrong_label_denied if {
	d := decide(["resnet-users"], "predict", "resnet50", null, "canary")
	denied(d)
	d.reason == "group membership does not grant predict on model resnet50 label canary"
}

test_empty_label_is_a_label if denied(decide(["resnet-users"], "predict", "resnet50", null, ""))

test_latest_needs_star_or_latest if {
	d := decide(["resnet-users"], "predict", "resnet50", null, null)
	denied(d)
	d.reason == "group membership does not grant predict on model resnet50 (latest version)"
}

test_glob_grant_limited_to_its_apis if denied(decide(["resnet-users"], "classify", "resnet50", 1, null))

test_latest_keyword if {
	grants := {"g": [{"models": ["m"], "versions": ["latest"], "apis": ["predict", "model_status"]}]}
	allowed(decide(["g"], "predict", "m", null, null)) with data.tfgate.grants as grants
	allowed(decide(["g"], "model_status", "m", null, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", 3, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", null, "stable")) with data.tfgate.grants as grants
}

test_version_as_string_in_grant if {
	grants := {"g": [{"models": ["m"], "versions": ["3"], "apis": ["predict"]}]}
	allowed(decide(["g"], "predict", "m", 3, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", 4, null)) with data.tfgate.grants as grants
}

test_star_label_does_not_grant_versions if {
	grants := {"g": [{"models": ["m"], "labels": ["*"], "apis": ["predict"]}]}
	allowed(decide(["g"], "predict", "m", null, "stable")) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", 1, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", null, null)) with data.tfgate.grants as grants
}

# TF Serving ignores the label of a model_status request and reports every
# version, so a label grant must not open it.
test_model_status_with_label_means_all_versions if {
	grants := {"g": [{"models": ["m"], "versions": [1], "labels": ["*"], "apis": ["model_status"]}]}
	d := decide(["g"], "model_status", "m", null, "stable") with data.tfgate.grants as grants
	denied(d)
	d.reason == "group membership does not grant model_status on model m (all versions)"
	allowed(decide(["g"], "model_status", "m", 1, null)) with data.tfgate.grants as grants
	allowed(decide(["data-scientists"], "model_status", "m", null, "stable"))
}

test_version_and_label_together_denied if denied(decide(ml, "predict", "half_plus_two", 1, "stable"))

test_missing_grant_fields_grant_nothing if {
	grants := {"g": [{"models": ["m"], "apis": ["predict"]}]}
	denied(decide(["g"], "predict", "m", 1, null)) with data.tfgate.grants as grants
	denied(decide(["g"], "predict", "m", null, null)) with data.tfgate.grants as grants
}

test_long_model_name_truncated_in_reason if {
	name := concat("", [x | some _ in numbers.range(1, 200); x := "a"])
	d := decide(ml, "predict", name, 1, null)
	denied(d)
	count(d.reason) < 150
}

test_control_characters_not_echoed if {
	d := decide(ml, "predict", "evil\r\nx-injected: 1", 1, null)
	denied(d)
	d.reason == "group membership does not grant predict on model evil??x-injected: 1 version 1"
}

# --- anonymous -------------------------------------------------------------

test_anonymous_denied if {
	d := anonymous("predict", "half_plus_two")
	d == {"allow": false, "reason": "authentication required"}
}

test_anonymous_denied_before_api_checks if {
	anonymous("health", "").reason == "authentication required"
}

test_missing_subject_denied if {
	d := authz.decision with input as {"request": request, "target": target("predict", "half_plus_two", 1, null)}
	d.reason == "authentication required"
}

# --- refused request kinds -----------------------------------------------

refused(api) := decide(["ml-engineers", "data-scientists"], api, "half_plus_two", 1, null)

test_reload_config_denied if {
	d := refused("reload_config")
	denied(d)
	contains(d.reason, "reserved for administrators")
}

test_session_run_denied if {
	d := refused("session_run")
	denied(d)
	contains(d.reason, "session_run")
}

test_profiler_denied if {
	d := refused("profiler")
	denied(d)
	contains(d.reason, "profiler")
}

test_health_denied if {
	d := refused("health")
	denied(d)
	contains(d.reason, "health")
}

test_cors_preflight_denied if {
	d := refused("cors_preflight")
	denied(d)
	contains(d.reason, "CORS preflight")
}

test_invalid_denied_with_400 if {
	d := refused("invalid")
	denied(d)
	d.status == 400
}

test_unknown_denied_with_404 if {
	d := refused("unknown")
	denied(d)
	d.status == 404
}

test_unlisted_api_denied if {
	d := refused("Predict")
	denied(d)
	d.reason == "unsupported API Predict"
}

test_star_grant_never_covers_refused_apis if {
	grants := {"g": [{"models": ["*"], "versions": ["*"], "labels": ["*"], "apis": ["*"]}]}
	every api in {"reload_config", "session_run", "profiler", "health", "cors_preflight", "invalid", "unknown"} {
		denied(decide(["g"], api, "m", 1, null)) with data.tfgate.grants as grants
	}
}

test_empty_model_denied if {
	d := decide(["data-scientists"], "model_status", "", null, null)
	denied(d)
	d.reason == "the request names no model"
}

test_reload_config_for_admin_group if {
	d := decide(["ops"], "reload_config", "", null, null) with data.tfgate.admin_groups as ["ops"]
	allowed(d)
	d.reason == "group ops may reload the TF Serving configuration"
	denied(decide(["ml-engineers"], "reload_config", "", null, null)) with data.tfgate.admin_groups as ["ops"]
	denied(scoped(["model:*"], ["ops"], "reload_config", "")) with data.tfgate.admin_groups as ["ops"]
}

# --- token scope ------------------------------------------------------------

test_scope_allows_named_model if allowed(scoped(["model:half_plus_two"], ml, "predict", "half_plus_two"))

test_scope_narrows_groups if {
	d := scoped(["model:bert"], ml, "predict", "half_plus_two")
	denied(d)
	d.reason == "token scope does not include predict on model half_plus_two"
}

test_scope_with_api_suffix if {
	allowed(scoped(["model:half_plus_two:model_status"], ml, "model_status", "half_plus_two"))
	denied(scoped(["model:half_plus_two:model_status"], ml, "predict", "half_plus_two"))
	allowed(scoped(["model:half_plus_two:*"], ml, "predict", "half_plus_two"))
}

test_scope_glob if {
	allowed(scoped(["model:bert", "model:half*"], ml, "predict", "half_plus_two"))
	denied(scoped(["model:half*:classify"], ml, "predict", "half_plus_two"))
}

test_scope_never_widens if denied(scoped(["model:half_plus_two"], ["resnet-users"], "predict", "half_plus_two"))

test_malformed_scope_entries_cover_nothing if {
	denied(scoped(["half_plus_two"], ml, "predict", "half_plus_two"))
	denied(scoped(["model:half_plus_two:predict:extra"], ml, "predict", "half_plus_two"))
	denied(scoped(["models:half_plus_two"], ml, "predict", "half_plus_two"))
	denied(scoped("model:half_plus_two", ml, "predict", "half_plus_two"))
}

test_empty_scope_is_unscoped if allowed(scoped([], ml, "predict", "half_plus_two"))

test_scope_applies_to_multi_inference if {
	grants := {"g": [{"models": ["m"], "versions": ["*"], "apis": ["*"]}]}
	allowed(scoped(["model:m"], ["g"], "multi_inference", "m")) with data.tfgate.grants as grants
	denied(scoped(["model:m:predict"], ["g"], "multi_inference", "m")) with data.tfgate.grants as grants
}

# --- shape ------------------------------------------------------------------

test_decision_always_one_well_formed_object if {
	inputs := [
		{},
		{"subject": {}},
		{"subject": subject(ml)},
		{"subject": subject(ml), "target": {}},
		{"subject": subject(ml), "target": {"api": 7, "model": 7}},
		{"subject": subject(ml), "target": {"api": "predict", "model": "m"}},
	]
	every x in inputs {
		d := authz.decision with input as x
		is_boolean(d.allow)
		is_string(d.reason)
		d.allow == false
		object.keys(d) - {"allow", "reason", "status"} == set()
	}
}

# A query in the model name (TF Serving reads "GET /v1/models/m?q" as model
# "m?q") never reaches the reason: clients put secrets there.
test_reason_drops_query if {
	d := decide(ml, "predict", "half_plus_three?access_token=s3cret", 1, null)
	not d.allow
	not contains(d.reason, "s3cret")
	contains(d.reason, "model half_plus_three?…")
}
