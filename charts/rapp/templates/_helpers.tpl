{{- define "rapp.name" -}}{{ .Release.Name }}-rapp{{- end -}}
{{- define "rapp.labels" -}}
app.kubernetes.io/name: rapp
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
