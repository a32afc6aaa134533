# Tests of the default policy for workloads: callers identified by mesh
# mTLS (subject.auth "mtls") or by an exchanged Kubernetes service-account
# token ("k8s"), granted through data.tfgate.subject_grants (data.yaml's
# batch scorer example) or through groups like any caller.
package tfgate.workload_test

import rego.v1

import data.tfgate.authz

spiffe_scorer := "spiffe://cluster.local/ns/batch/sa/scorer"

k8s_scorer := "system:serviceaccount:batch:scorer"

workload(id, auth, groups) := {
	"id": id, "email": "", "groups": groups, "idp": "spiffe://cluster.local",
	"auth": auth, "expires_at": "0001-01-01T00:00:00Z",
}

decide(subject, api, model) := d if {
	d := authz.decision with input as {
		"subject": subject,
		"request": {"method": "POST", "path": "/v1/models/m:predict", "host": "tfs", "protocol": "rest"},
		"target": {"api": api, "model": model, "version": null, "label": null, "signature": ""},
	}
}

test_mtls_scorer_may_predict_half_plus_two if {
	d := decide(workload(spiffe_scorer, "mtls", []), "predict", "half_plus_two")
	d.allow == true
	contains(d.reason, spiffe_scorer)
	contains(d.reason, "(mtls)")
}

test_k8s_scorer_may_predict_half_plus_two if {
	d := decide(workload(k8s_scorer, "k8s", []), "predict", "half_plus_two")
	d.allow == true
	contains(d.reason, "(k8s)")
}

test_scorer_refused_another_model if {
	d := decide(workload(spiffe_scorer, "mtls", []), "predict", "resnet")
	d.allow == false
	contains(d.reason, "does not grant predict on model resnet")
}

test_scorer_refused_an_api_outside_its_grant if {
	not decide(workload(k8s_scorer, "k8s", []), "classify", "half_plus_two").allow
}

test_other_service_account_refused if {
	not decide(workload("spiffe://cluster.local/ns/batch/sa/other", "mtls", []), "predict", "half_plus_two").allow
}

# A SAML user whose NameID equals a workload id gets nothing from
# subject_grants: those are for workload identities only.
test_subject_grants_ignore_saml_subjects if {
	not decide(workload(k8s_scorer, "cookie", []), "predict", "half_plus_two").allow
	not decide(workload(k8s_scorer, "bearer", []), "predict", "half_plus_two").allow
}

# Groups from workload_identity.groups grant like a SAML user's groups.
test_workload_groups_grant if {
	decide(workload("spiffe://cluster.local/ns/web/sa/front", "mtls", ["ml-engineers"]), "predict", "half_plus_two").allow
}

test_scope_still_narrows_a_k8s_token if {
	s := object.union(workload(k8s_scorer, "k8s", []), {"scope": ["model:resnet"]})
	not decide(s, "predict", "half_plus_two").allow
}
