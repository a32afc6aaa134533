# METADATA
# title: tfgate default policy
# description: |
#   Decides whether the caller's groups may call one TensorFlow Serving
#   target. tfgate queries data.tfgate.authz.decision, which is always exactly
#   one object {"allow": bool, "reason": string} (optional "status"). Grants
#   come from data.tfgate.grants (see data.yaml for the schema).
#
#   The checks run in order and the first that applies decides:
#     1. anonymous callers are denied ("authentication required");
#     2. reload_config is allowed only to data.tfgate.admin_groups (unscoped);
#     3. request kinds that are not model calls are refused (refused_apis);
#     4. anything that is not one of the six model APIs is refused;
#     5. a target without a model is refused;
#     6. a scoped token must have a scope entry covering the target;
#     7. one of the caller's groups must grant the target, or a grant for
#        the caller's own id does (data.tfgate.subject_grants: workloads,
#        identified by mTLS or an exchanged service-account token).
#
#   Reasons are shown to the caller in a 403 and written to the decision
#   log: they name the API, model and version, never credentials.
package tfgate.authz

import rego.v1

# model_apis are the TF Serving APIs that serve a model. Grants and scopes
# name them; "*" in either stands for exactly these six.
model_apis := {"predict", "classify", "regress", "multi_inference", "model_status", "model_metadata"}

# refused_apis are the request kinds tfgate never forwards (reload_config
# only to admin groups), with the reason the caller sees.
refused_apis := {
	"reload_config": "reload_config replaces every model TF Serving serves and is reserved for administrators",
	"session_run": "session_run feeds raw graph tensors past model signatures and is not allowed through tfgate",
	"profiler": "the TensorFlow profiler API is not allowed through tfgate",
	"health": "the TF Serving health service is not exposed through tfgate",
	"cors_preflight": "CORS preflight requests are not forwarded to TF Serving",
	"invalid": "TF Serving would reject this request as malformed",
	"unknown": "not a TensorFlow Serving model API request",
}

# refusal_status overrides tfgate's default deny status where 403 would
# mislead: the request is malformed or outside TF Serving's API.
refusal_status := {"invalid": 400, "unknown": 404}

# Anything the rules below do not cover is a deny, so the decision is never
# undefined.
default decision := {"allow": false, "reason": "denied: no policy rule applies to this request"}

decision := deny("authentication required") if {
	not authenticated
} else := allow(sprintf("group %s may reload the TF Serving configuration", [admin_group])) if {
	input.target.api == "reload_config"
	not scoped
} else := refusal(input.target.api) if {
	refused_apis[input.target.api]
} else := deny(sprintf("unsupported API %s", [shown(api_name)])) if {
	not model_apis[input.target.api]
} else := deny("the request names no model") if {
	not has_model
} else := deny(concat("", ["token scope does not include ", input.target.api, " on model ", shown(input.target.model)])) if {
	scoped
	not scope_allows
} else := {"allow": true, "reason": concat("", ["group ", granting_group, " grants ", input.target.api, " on model ", shown(input.target.model), " ", selector])} if {
	granting_group
} else := {"allow": true, "reason": sprintf("a grant for %s (%s) allows %s on model %s %s", [shown(input.subject.id), input.subject.auth, input.target.api, shown(input.target.model), selector])} if {
	subject_granted
} else := {"allow": false, "reason": concat("", ["group membership does not grant ", input.target.api, " on model ", shown(input.target.model), " ", selector])}

# From the fourth check on, the API is one of model_apis and the model a
# non-empty string, so the reasons above are built with concat, which is
# cheaper than sprintf and says the same for strings.

allow(reason) := {"allow": true, "reason": reason}

deny(reason) := {"allow": false, "reason": reason}

refusal(api) := object.union(deny(refused_apis[api]), {"status": refusal_status[api]}) if refusal_status[api]

refusal(api) := deny(refused_apis[api]) if not refusal_status[api]

authenticated if is_object(input.subject)

has_model if {
	is_string(input.target.model)
	input.target.model != ""
}

api_name := object.get(input, ["target", "api"], "")

target_version := object.get(input, ["target", "version"], null)

target_label := object.get(input, ["target", "label"], null)

# shown makes a request-supplied name safe to put in a reason: anything
# from a "?" on is dropped (TF Serving reads a REST query as part of the
# model name, and clients put secrets in queries: ?access_token=...),
# control characters (a percent-decoded "%0A") become "?", and a huge name
# is cut. The first case is the common one and costs one regex match.
shown(s) := s if {
	count(s) <= 80
	not contains(s, "?")
	not regex.match(`[[:cntrl:]]`, s)
} else := regex.replace(short(unqueried(s)), `[[:cntrl:]]`, "?")

unqueried(s) := concat("", [substring(s, 0, indexof(s, "?")), "?…"]) if indexof(s, "?") >= 0

unqueried(s) := s if indexof(s, "?") < 0

short(s) := s if count(s) <= 80

short(s) := concat("", [substring(s, 0, 80), "..."]) if count(s) > 80

# selector describes which versions the request asks for, as the grants see
# it.
selector := sprintf("version %v", [target_version]) if {
	target_version != null
} else := "(all versions)" if {
	input.target.api == "model_status"
} else := concat("", ["label ", shown(target_label)]) if {
	is_string(target_label)
} else := sprintf("label %s", [shown(target_label)]) if {
	target_label != null
} else := "(latest version)"

# unversioned requests name neither a version nor a label. model_status with
# a label is one too: TF Serving ignores the label and reports every version.
unversioned if {
	target_version == null
	target_label == null
}

unversioned if {
	target_version == null
	input.target.api == "model_status"
}

# name_matches compares a model name with an exact name or a glob. null
# delimiters mean "*" matches any run of characters; the default ["."]
# would stop "resnet*" at "resnet.v2", which is not what a model name means.
# Group grants are matched by tfgate.model_grants (below), which means
# exactly this; token scopes use it directly.
name_matches(pattern, name) if pattern == name

name_matches(pattern, name) if glob.match(pattern, null, name)

api_matches(granted, api) if {
	granted == "*"
	model_apis[api]
}

api_matches(granted, api) if {
	granted == api
	model_apis[api]
}

# --- group grants --------------------------------------------------------

# granting_group is the first (in sort order) of the caller's groups that
# grants the target; undefined when none does (min of an empty set is).
granting_group := min(granting_groups)

# tfgate.model_grants(grants, model) is tfgate's built-in for the grants
# among one group's grants (a list of grants, or a single grant object)
# whose models name the model: some pattern in grant.models with
# name_matches(pattern, model). tfgate indexes data.tfgate.grants when it
# loads the policy (exact names in a map, globs compiled once), so a group
# with hundreds of models costs one lookup, not one rule per pattern. Run
# this policy's tests with `extauthz policy test`, which provides it.
granting_groups contains group if {
	some group in input.subject.groups
	some grant in tfgate.model_grants(data.tfgate.grants[group], input.target.model)
	grant_applies(grant)
}

# grant_applies: the grant (whose models name the target) grants the API
# and the version, label or "latest" the request asks for. The API is one
# of model_apis here (the decision checked it first).
grant_applies(grant) if {
	api_granted(grant.apis)
	selector_granted(grant)
}

api_granted(apis) if "*" in apis

api_granted(apis) if input.target.api in apis

# The three cases exclude each other, so an else chain means the same as
# three rules and stops at the first case that holds.
selector_granted(grant) if {
	is_number(target_version)
	target_label == null
	version_granted(grant.versions, target_version)
} else if {
	is_string(target_label)
	target_version == null
	input.target.api != "model_status"
	label_granted(grant.labels, target_label)
} else if {
	unversioned
	latest_granted(grant.versions)
}

# A version is granted by "*", by the number, or by the number written as
# a string (1 and "1" are the same).
version_granted(versions, _) if "*" in versions

version_granted(versions, n) if n in versions

version_granted(versions, n) if format_int(n, 10) in versions

label_granted(labels, _) if "*" in labels

label_granted(labels, l) if l in labels

latest_granted(versions) if "*" in versions

latest_granted(versions) if "latest" in versions

# --- subject grants ------------------------------------------------------

# subject_granted: a grant listed under the caller's exact id grants the
# target. Meant for workloads, whose ids are fixed names
# ("spiffe://cluster.local/ns/batch/sa/scorer",
# "system:serviceaccount:batch:scorer"); only workload subjects (auth mtls
# or k8s) use them, so a SAML NameID that happens to look like one does not.
subject_granted if {
	input.subject.auth in {"mtls", "k8s"}
	some grant in tfgate.model_grants(subject_grant_list(input.subject.id), input.target.model)
	grant_applies(grant)
}

subject_grant_list(id) := grants if {
	grants := data.tfgate.subject_grants[id]
	is_array(grants)
}

subject_grant_list(id) := [grant] if {
	grant := data.tfgate.subject_grants[id]
	is_object(grant)
}

# --- admin ---------------------------------------------------------------

admin_group := min(admin_groups) if count(admin_groups) > 0

admin_groups contains group if {
	some group in input.subject.groups
	group in data.tfgate.admin_groups
}

# --- token scope ---------------------------------------------------------

# scoped is true when the caller's token carries a non-empty scope: then the
# target must ALSO be covered by one scope entry. Scope never grants on its
# own. A scope that is present but not a list covers nothing.
scoped if not object.get(input.subject, "scope", null) in {null, []}

# scope_allows: an entry "model:<name-or-glob>" covers every model API of the
# matching models; "model:<name-or-glob>:<api>" (or ":*") one API. Entries of
# any other form cover nothing; model names containing ":" cannot be scoped.
scope_allows if {
	some entry in input.subject.scope
	scope_entry_allows(split(entry, ":"))
}

scope_entry_allows(parts) if {
	count(parts) == 2
	parts[0] == "model"
	name_matches(parts[1], input.target.model)
	model_apis[input.target.api]
}

scope_entry_allows(parts) if {
	count(parts) == 3
	parts[0] == "model"
	name_matches(parts[1], input.target.model)
	api_matches(parts[2], input.target.api)
}
