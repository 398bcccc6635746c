{{/* The release's name, cut to what Kubernetes names allow with a suffix. */}}
{{- define "oss-cluster.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oss-cluster.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one component: head, worker, gateway or controller. */}}
{{- define "oss-cluster.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "oss-cluster.image" -}}
{{- $tag := .Values.image.tag | default (printf "%s-%s" .Chart.AppVersion .Values.image.flavor) -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}

{{- define "oss-cluster.headService" -}}
{{- printf "%s-head-svc" (include "oss-cluster.fullname" .) -}}
{{- end -}}

{{- define "oss-cluster.tenantsSecret" -}}
{{- .Values.tenants.existingSecret | default (printf "%s-tenants" (include "oss-cluster.fullname" .)) -}}
{{- end -}}

{{/* Environment every Ray process of the release shares: the cluster's auth token and the cache. */}}
{{- define "oss-cluster.rayEnv" -}}
{{ include "oss-cluster.rayTokenEnv" . }}
- name: OSS_CLUSTER_CACHE
  value: /cache
- name: HOME
  value: /tmp
{{- end -}}

{{- define "oss-cluster.rayTokenEnv" -}}
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "oss-cluster.fullname" . }}-ray-token
      key: token
{{- end -}}

{{/* Writable places under a read-only root filesystem: Ray's session files, the cache, shared memory. */}}
{{- define "oss-cluster.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
- name: cache
  mountPath: /cache
{{- end -}}

{{- define "oss-cluster.scratchVolumes" -}}
- name: tmp
  emptyDir: {}
- name: cache
  emptyDir: {}
{{- end -}}

{{- define "oss-cluster.podSecurity" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsUser }}
fsGroup: {{ .Values.securityContext.runAsUser }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Pull secrets, the pod's security context and where it may run (`placement`: nodeSelector,
tolerations, affinity) of one component's pods. */}}
{{- define "oss-cluster.podBasics" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- include "oss-cluster.podSecurity" .root | nindent 2 }}
{{- range $field := list "nodeSelector" "tolerations" "affinity" }}
{{- with index $.placement $field }}
{{ $field }}:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "oss-cluster.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Joins the Ray cluster as a node with no resources, then runs an oss-cluster role in its place. */}}
{{- define "oss-cluster.roleCommand" -}}
- /bin/sh
- -c
- >-
  ray start --address={{ include "oss-cluster.headService" .root }}:6379 --num-cpus=0 --num-gpus=0
  --disable-usage-stats && exec oss-cluster {{ .role }} --config /etc/oss-cluster/cluster.yaml
{{- end -}}
