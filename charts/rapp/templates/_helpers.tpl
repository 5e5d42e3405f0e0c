{{/* The chart's name, or nameOverride. */}}
{{- define "rapp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: fullnameOverride, or <release>-<name> (the release alone when it
already contains the name). */}}
{{- define "rapp.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rapp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: fixed for the release's life (a StatefulSet's selector is immutable). */}}
{{- define "rapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rapp.labels" -}}
helm.sh/chart: {{ include "rapp.chart" . }}
{{ include "rapp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: rapp
app.kubernetes.io/part-of: oran-nonrtric
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "rapp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rapp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The pod needs a service-account token only to talk to Porch through the API server with
its own identity. */}}
{{- define "rapp.porchUsesServiceAccount" -}}
{{- if and (eq .Values.nephio.writer "porch") (not .Values.secrets.porch.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* Whether a policy set is mounted over the image's. */}}
{{- define "rapp.policiesMounted" -}}
{{- if or .Values.policies .Values.policiesConfigMap -}}true{{- end -}}
{{- end -}}

{{- define "rapp.policiesConfigMapName" -}}
{{- default (printf "%s-policies" (include "rapp.fullname" .)) .Values.policiesConfigMap -}}
{{- end -}}

{{/* The restrictive container securityContext shared by the rApp and the OPA sidecar. */}}
{{- define "rapp.containerSecurityContext" -}}
{{- toYaml .Values.securityContext -}}
{{- end -}}

{{/*
The rApp container's explicit environment, from the structured values. Built as a map of
name -> EnvVar body so that no variable is ever listed twice (a later `set` replaces an earlier
one), then rendered in name order. Every value is a string, as Kubernetes requires.
*/}}
{{- define "rapp.env" -}}
{{- $v := .Values -}}
{{- $env := dict -}}
{{- $_ := set $env "RAPP_API__HOST" (dict "value" "0.0.0.0") -}}
{{- $_ := set $env "RAPP_API__PORT" (dict "value" (toString $v.containerPort)) -}}
{{- $_ := set $env "RAPP_ENACT__EXECUTOR_ID" (dict "valueFrom" (dict "fieldRef" (dict "fieldPath" "metadata.name"))) -}}
{{- $_ := set $env "RAPP_ENACT__MODE" (dict "value" (toString $v.enact.mode)) -}}
{{- $_ := set $env "RAPP_NEPHIO__WORKDIR" (dict "value" "/var/lib/rapp/nephio/work") -}}
{{- $_ := set $env "RAPP_POLICY__DIRECTORY" (dict "value" "/etc/rapp/policies") -}}
{{- if $v.models.onVolume -}}
{{- $_ := set $env "RAPP_MODELS__ROOT" (dict "value" "/var/lib/rapp/models") -}}
{{- end -}}
{{- /* Kafka */ -}}
{{- $_ := set $env "RAPP_KAFKA__BOOTSTRAP" (dict "value" (toString $v.kafka.bootstrap)) -}}
{{- $_ := set $env "RAPP_KAFKA__TOPIC" (dict "value" (toString $v.kafka.topic)) -}}
{{- $_ := set $env "RAPP_KAFKA__DLQ_TOPIC" (dict "value" (toString $v.kafka.dlqTopic)) -}}
{{- $_ := set $env "RAPP_KAFKA__SECURITY_PROTOCOL" (dict "value" (toString $v.kafka.securityProtocol)) -}}
{{- if $v.kafka.saslMechanism -}}
{{- $_ := set $env "RAPP_KAFKA__SASL_MECHANISM" (dict "value" (toString $v.kafka.saslMechanism)) -}}
{{- end -}}
{{- with $v.secrets.kafkaSasl -}}
{{- if .existingSecret -}}
{{- $_ := set $env "RAPP_KAFKA__SASL_PLAIN_USERNAME" (dict "valueFrom" (dict "secretKeyRef" (dict "name" .existingSecret "key" .usernameKey))) -}}
{{- $_ := set $env "RAPP_KAFKA__SASL_PLAIN_PASSWORD" (dict "valueFrom" (dict "secretKeyRef" (dict "name" .existingSecret "key" .passwordKey))) -}}
{{- end -}}
{{- end -}}
{{- /* Journal and DBOS system database */ -}}
{{- if $v.database.existingSecret -}}
{{- $ref := dict "valueFrom" (dict "secretKeyRef" (dict "name" $v.database.existingSecret "key" $v.database.key)) -}}
{{- $_ := set $env "RAPP_STORE__URL" $ref -}}
{{- $_ := set $env "RAPP_ENACT__SYSTEM_DATABASE_URL" $ref -}}
{{- else if $v.database.url -}}
{{- $_ := set $env "RAPP_STORE__URL" (dict "value" (toString $v.database.url)) -}}
{{- $_ := set $env "RAPP_ENACT__SYSTEM_DATABASE_URL" (dict "value" (toString $v.database.url)) -}}
{{- else -}}
{{- $_ := set $env "RAPP_STORE__URL" (dict "value" "sqlite:////var/lib/rapp/rapp.sqlite") -}}
{{- $_ := set $env "RAPP_ENACT__SYSTEM_DATABASE_URL" (dict "value" "sqlite:////var/lib/rapp/dbos.sqlite") -}}
{{- end -}}
{{- /* A1-PMS */ -}}
{{- $_ := set $env "RAPP_A1__URL" (dict "value" (toString $v.a1pms.url)) -}}
{{- $_ := set $env "RAPP_A1__RIC_ID" (dict "value" (toString $v.a1pms.ricId)) -}}
{{- $_ := set $env "RAPP_A1__API" (dict "value" (toString $v.a1pms.api)) -}}
{{- if $v.secrets.a1pms.existingSecret -}}
{{- $_ := set $env "RAPP_A1__TOKEN_FILE" (dict "value" (printf "/etc/rapp/secrets/a1pms/%s" $v.secrets.a1pms.tokenKey)) -}}
{{- if $v.secrets.a1pms.caKey -}}
{{- $_ := set $env "RAPP_A1__CA_FILE" (dict "value" (printf "/etc/rapp/secrets/a1pms/%s" $v.secrets.a1pms.caKey)) -}}
{{- end -}}
{{- end -}}
{{- /* Replicas share one A1-PMS service and one ICS info-job: one replica's stop must not
delete them for the others. */ -}}
{{- if gt (int $v.replicas) 1 -}}
{{- $_ := set $env "RAPP_A1__DEREGISTER_ON_STOP" (dict "value" "false") -}}
{{- $_ := set $env "RAPP_ICS__DELETE_ON_STOP" (dict "value" "false") -}}
{{- end -}}
{{- /* The rApp Manager's A1-PMS participant owns the service when it registered it; toString:
an overrideParam may arrive as the string "false". */ -}}
{{- if eq (toString $v.a1pms.deregisterOnStop) "false" -}}
{{- $_ := set $env "RAPP_A1__DEREGISTER_ON_STOP" (dict "value" "false") -}}
{{- end -}}
{{- /* ICS */ -}}
{{- $_ := set $env "RAPP_ICS__ENABLED" (dict "value" (toString $v.ics.enabled)) -}}
{{- if $v.ics.enabled -}}
{{- $_ := set $env "RAPP_ICS__URL" (dict "value" (toString $v.ics.url)) -}}
{{- end -}}
{{- /* Nephio */ -}}
{{- $_ := set $env "RAPP_NEPHIO__WRITER" (dict "value" (toString $v.nephio.writer)) -}}
{{- if eq $v.nephio.writer "git" -}}
{{- $_ := set $env "RAPP_NEPHIO__BRANCH" (dict "value" (toString $v.nephio.branch)) -}}
{{- if $v.secrets.git.existingSecret -}}
{{- $_ := set $env "RAPP_NEPHIO__REMOTE" (dict "valueFrom" (dict "secretKeyRef" (dict "name" $v.secrets.git.existingSecret "key" $v.secrets.git.remoteKey))) -}}
{{- else if $v.nephio.remote -}}
{{- $_ := set $env "RAPP_NEPHIO__REMOTE" (dict "value" (toString $v.nephio.remote)) -}}
{{- end -}}
{{- end -}}
{{- if eq $v.nephio.writer "porch" -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__URL" (dict "value" (toString $v.nephio.porch.url)) -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__NAMESPACE" (dict "value" (toString $v.nephio.porch.namespace)) -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__REPOSITORY" (dict "value" (toString $v.nephio.porch.repository)) -}}
{{- if $v.secrets.porch.existingSecret -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__TOKEN_FILE" (dict "value" (printf "/etc/rapp/secrets/porch/%s" $v.secrets.porch.tokenKey)) -}}
{{- if $v.secrets.porch.caKey -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__CA_FILE" (dict "value" (printf "/etc/rapp/secrets/porch/%s" $v.secrets.porch.caKey)) -}}
{{- end -}}
{{- else -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__TOKEN_FILE" (dict "value" "/var/run/secrets/kubernetes.io/serviceaccount/token") -}}
{{- $_ := set $env "RAPP_NEPHIO__PORCH__CA_FILE" (dict "value" "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt") -}}
{{- end -}}
{{- end -}}
{{- /* API keys */ -}}
{{- if $v.secrets.apiKeys.existingSecret -}}
{{- $_ := set $env "RAPP_API__KEYS" (dict "valueFrom" (dict "secretKeyRef" (dict "name" $v.secrets.apiKeys.existingSecret "key" $v.secrets.apiKeys.key))) -}}
{{- end -}}
{{- /* OPA sidecar */ -}}
{{- if $v.opa.enabled -}}
{{- $_ := set $env "RAPP_POLICY__OPA_URL" (dict "value" "http://127.0.0.1:8181") -}}
{{- end -}}
{{- /* Config file */ -}}
{{- if $v.config -}}
{{- $_ := set $env "RAPP_CONFIG" (dict "value" "/etc/rapp/config/rapp.yaml") -}}
{{- end -}}
{{- /* rApp Manager (SME) */ -}}
{{- if $v.environment.appId -}}
{{- $_ := set $env "RAPP_SME__APP_ID" (dict "value" (toString $v.environment.appId)) -}}
{{- end -}}
{{- if $v.environment.smeDiscoveryEndpoint -}}
{{- $_ := set $env "RAPP_SME__DISCOVERY_ENDPOINT" (dict "value" (toString $v.environment.smeDiscoveryEndpoint)) -}}
{{- end -}}
{{- range $name, $body := $env }}
- name: {{ $name }}
  {{- toYaml $body | nindent 2 }}
{{- end -}}
{{- end -}}
