{{/* Chart name, overridable with nameOverride. */}}
{{- define "memories.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every namespaced resource name. */}}
{{- define "memories.fullname" -}}
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

{{/* Labels selecting the operator pods. */}}
{{- define "memories.selectorLabels" -}}
app.kubernetes.io/name: {{ include "memories.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{/* Labels on every object of the release. */}}
{{- define "memories.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "memories.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: memories-optimizer
{{- end -}}

{{/* The operator's image reference. */}}
{{- define "memories.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Names derived from the full name. */}}
{{- define "memories.webhookServiceName" -}}
{{- printf "%s-webhook" (include "memories.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "memories.webhookSecretName" -}}
{{- printf "%s-webhook-tls" (include "memories.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "memories.webhookConfigurationName" -}}
{{- default (include "memories.fullname" .) .Values.webhook.configurationName -}}
{{- end -}}
{{- define "memories.servingCertificateName" -}}
{{- printf "%s-webhook" (include "memories.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
