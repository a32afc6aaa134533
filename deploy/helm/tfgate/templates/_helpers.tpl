{{/* Names and labels shared by every template. */}}
{{- define "tfgate.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tfgate.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tfgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tfgate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tfgate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "tfgate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tfgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tfgate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The in-cluster token and CA, for key discovery from the API server. */}}
{{- define "tfgate.inClusterDiscovery" -}}
{{- $k := .Values.workloadIdentity.kubernetes -}}
{{- if and $k.issuer $k.inClusterDiscovery (not $k.jwksConfigMap) -}}true{{- end -}}
{{- end -}}

{{/*
tfgate.config renders extauthz's config file (extauthz.example.yaml
documents every key). Paths point at the volumes deployment.yaml mounts.
*/}}
{{- define "tfgate.config" -}}
{{- $v := .Values -}}
{{- $cfg := dict
  "listen" (dict "grpc" (printf ":%d" (int $v.ports.grpc)) "http" (printf ":%d" (int $v.ports.http)))
  "log" (dict "level" $v.log.level "format" $v.log.format)
  "decision_log" (dict "path" $v.decisionLog.path)
-}}
{{- $sessions := dict "store" $v.sessions.store "max_lifetime" $v.sessions.maxLifetime "idle_timeout" $v.sessions.idleTimeout -}}
{{- if eq $v.sessions.store "redis" -}}
{{- $r := $v.redis -}}
{{- $redis := dict "mode" $r.mode "addrs" $r.addrs "db" (int $r.db) "prefix" $r.prefix -}}
{{- if $r.masterName }}{{ $_ := set $redis "master_name" $r.masterName }}{{ end -}}
{{- if $r.username }}{{ $_ := set $redis "username" $r.username }}{{ end -}}
{{- if $r.passwordSecret.name }}{{ $_ := set $redis "password_file" "/etc/tfgate/redis/password" }}{{ end -}}
{{- if $r.sentinelUsername }}{{ $_ := set $redis "sentinel_username" $r.sentinelUsername }}{{ end -}}
{{- if $r.sentinelPasswordSecret.name }}{{ $_ := set $redis "sentinel_password" "${REDIS_SENTINEL_PASSWORD}" }}{{ end -}}
{{- if $r.tls.enabled -}}
{{- $tls := dict "enabled" true -}}
{{- if $r.tls.secret }}{{ $_ := set $tls "ca_file" (printf "/etc/tfgate/redis-tls/%s" $r.tls.caKey) }}{{ end -}}
{{- if and $r.tls.secret $r.tls.certKey }}{{ $_ := set $tls "cert_file" (printf "/etc/tfgate/redis-tls/%s" $r.tls.certKey) }}{{ $_ := set $tls "key_file" (printf "/etc/tfgate/redis-tls/%s" $r.tls.keyKey) }}{{ end -}}
{{- if $r.tls.serverName }}{{ $_ := set $tls "server_name" $r.tls.serverName }}{{ end -}}
{{- $_ := set $redis "tls" $tls -}}
{{- end -}}
{{- $_ := set $sessions "redis" $redis -}}
{{- end -}}
{{- $_ := set $cfg "sessions" $sessions -}}
{{- $policy := dict "reload_interval" $v.policy.reloadInterval -}}
{{- if $v.policy.configMap }}{{ $_ := set $policy "dir" "/etc/tfgate/policy" }}{{ end -}}
{{- $_ := set $cfg "policy" $policy -}}
{{- $saml := dict "token_lifetime" $v.saml.tokenLifetime "idps" $v.saml.idps -}}
{{- if $v.saml.baseURL }}{{ $_ := set $saml "base_url" $v.saml.baseURL }}{{ end -}}
{{- if $v.saml.bindingSecret.name }}{{ $_ := set $saml "binding_secret" "${TFGATE_BINDING_SECRET}" }}{{ end -}}
{{- if $v.saml.keySecret -}}
{{- $_ := set $saml "key_file" "/etc/tfgate/saml/tls.key" -}}
{{- $_ := set $saml "cert_file" "/etc/tfgate/saml/tls.crt" -}}
{{- $_ := set $saml "sign_requests" $v.saml.signRequests -}}
{{- end -}}
{{- $_ := set $cfg "saml" $saml -}}
{{- $w := $v.workloadIdentity -}}
{{- $k8s := dict "issuer" $w.kubernetes.issuer "audiences" $w.kubernetes.audiences "refresh" $w.kubernetes.refresh -}}
{{- if $w.kubernetes.issuer -}}
{{- if $w.kubernetes.jwksConfigMap -}}
{{- $_ := set $k8s "jwks_file" "/etc/tfgate/jwks/jwks.json" -}}
{{- else if $w.kubernetes.inClusterDiscovery -}}
{{- $_ := set $k8s "discovery_url" "https://kubernetes.default.svc/.well-known/openid-configuration" -}}
{{- $_ := set $k8s "bearer_token_file" "/var/run/secrets/kubernetes.io/serviceaccount/token" -}}
{{- $_ := set $k8s "ca_file" "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- $_ := set $cfg "workload_identity" (dict "groups" $w.groups "mtls" (dict "trust_domains" $w.mtls.trustDomains "exclude" $w.mtls.exclude) "kubernetes" $k8s) -}}
{{- mustMergeOverwrite $cfg $v.extraConfig | toYaml -}}
{{- end -}}
