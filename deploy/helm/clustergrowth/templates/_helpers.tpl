{{/* Names, labels and the environment every component reads. */}}

{{- define "cg.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "cg.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
clustergrowth.eu/region: {{ .root.Values.region }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{- define "cg.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The Kafka bootstrap servers: the value, else the chart's Strimzi cluster's TLS listener. */}}
{{- define "cg.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrap -}}
{{- .Values.kafka.bootstrap -}}
{{- else if .Values.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap:9093" .Values.strimzi.clusterName -}}
{{- else -}}
{{- fail "kafka.bootstrap is required when strimzi.enabled is false" -}}
{{- end -}}
{{- end -}}

{{- define "cg.kafkaPasswordSecret" -}}
{{- if .Values.kafka.existingSecret -}}{{ .Values.kafka.existingSecret }}{{- else if .Values.strimzi.enabled -}}{{ .Values.kafka.username }}{{- end -}}
{{- end -}}

{{- define "cg.kafkaCaSecret" -}}
{{- if .Values.kafka.caSecret -}}{{ .Values.kafka.caSecret }}{{- else if and .Values.strimzi.enabled (not .Values.kafka.bootstrap) -}}{{ printf "%s-cluster-ca-cert" .Values.strimzi.clusterName }}{{- end -}}
{{- end -}}

{{/* The MongoDB URL: the value, else the operator's replica set members. */}}
{{- define "cg.mongoUrl" -}}
{{- if .Values.mongodb.url -}}
{{- .Values.mongodb.url -}}
{{- else if .Values.mongodb.operator.enabled -}}
{{- $name := .Values.mongodb.operator.name -}}
{{- $hosts := list -}}
{{- range $i := until (int .Values.mongodb.operator.members) -}}
{{- $hosts = append $hosts (printf "%s-%d.%s-svc.%s.svc.%s:27017" $name $i $name $.Release.Namespace $.Values.clusterDomain) -}}
{{- end -}}
{{- printf "mongodb://%s/?replicaSet=%s" (join "," $hosts) $name -}}
{{- else -}}
{{- fail "mongodb.url is required when mongodb.operator.enabled is false" -}}
{{- end -}}
{{- end -}}

{{/* The public URL of the training API its badges name: the value, else the ingress host's, else none. */}}
{{- define "cg.trainingBaseUrl" -}}
{{- if .Values.trainingCredentials.baseUrl -}}
{{- .Values.trainingCredentials.baseUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "https://%s/api/v1/training" .Values.ingress.host -}}
{{- end -}}
{{- end -}}

{{- define "cg.devIssuer" -}}
{{- if not .Values.auth.issuer -}}true{{- end -}}
{{- end -}}

{{/* Environment of every component: the shared ConfigMap, then the secrets by reference. */}}
{{- define "cg.secretEnv" -}}
{{- $kafkaSecret := include "cg.kafkaPasswordSecret" . -}}
{{- if and (hasPrefix "SASL_" .Values.kafka.securityProtocol) $kafkaSecret }}
- name: CG_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ $kafkaSecret }}, key: {{ .Values.kafka.passwordKey }}}
{{- end }}
{{- if .Values.mongodb.existingSecret }}
- name: CG_MONGO_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .Values.mongodb.existingSecret }}, key: {{ .Values.mongodb.passwordKey }}}
{{- end }}
{{- end -}}

{{- define "cg.volumeMounts" -}}
- {name: data, mountPath: /data}
- {name: tmp, mountPath: /tmp}
{{- if include "cg.devIssuer" . }}
- {name: dev-issuer, mountPath: /data/dev-issuer, readOnly: true}
{{- end }}
{{- if include "cg.kafkaCaSecret" . }}
- {name: kafka-ca, mountPath: /etc/clustergrowth/kafka-ca, readOnly: true}
{{- end }}
{{- if .Values.mongodb.caSecret }}
- {name: mongodb-ca, mountPath: /etc/clustergrowth/mongodb-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "cg.volumes" -}}
- name: data
  emptyDir: {sizeLimit: 256Mi}
- name: tmp
  emptyDir: {sizeLimit: 64Mi}
{{- if include "cg.devIssuer" . }}
- name: dev-issuer
  secret: {secretName: {{ include "cg.fullname" . }}-dev-issuer, defaultMode: 0440}
{{- end }}
{{- with include "cg.kafkaCaSecret" . }}
- name: kafka-ca
  secret:
    secretName: {{ . }}
    items: [{key: {{ $.Values.kafka.caKey }}, path: ca.crt}]
{{- end }}
{{- with .Values.mongodb.caSecret }}
- name: mongodb-ca
  secret:
    secretName: {{ . }}
    items: [{key: {{ $.Values.mongodb.caKey }}, path: ca.crt}]
{{- end }}
{{- end -}}

{{- define "cg.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "cg.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
{{- end -}}
