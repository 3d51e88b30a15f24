# Example module: how your Terraform consumes the thresholds ai-ops tunes.
#
# It only builds values (locals and outputs), so `terraform validate` and `plan` run
# offline with no provider to download. Every tuned variable is a map keyed by
# service name, so each service reads its own value: var.autoscaling_cpu_target[name].
# In your own module, pass these values to real resources; docs/terraform.md shows
# the kubernetes_manifest and kubernetes_horizontal_pod_autoscaler_v2 forms.

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the workloads."
  default     = "prod"
}

variable "min_replicas" {
  type        = map(number)
  description = "HPA minReplicas per service (not tuned by ai-ops); services not listed get 2."
  default     = {}
}

variable "max_replicas" {
  type        = map(number)
  description = "HPA maxReplicas per service (not tuned by ai-ops); services not listed get 60."
  default     = {}
}

locals {
  # The services are the keys of the tuned maps (every threshold has one value per service).
  services = keys(var.autoscaling_cpu_target)

  # One Kubernetes HorizontalPodAutoscaler (autoscaling/v2) per service, scaling on average CPU.
  hpa_manifests = {
    for name in local.services : name => {
      apiVersion = "autoscaling/v2"
      kind       = "HorizontalPodAutoscaler"
      metadata = {
        name      = name
        namespace = var.namespace
      }
      spec = {
        scaleTargetRef = {
          apiVersion = "apps/v1"
          kind       = "Deployment"
          name       = name
        }
        minReplicas = lookup(var.min_replicas, name, 2)
        maxReplicas = lookup(var.max_replicas, name, 60)
        metrics = [{
          type = "Resource"
          resource = {
            name = "cpu"
            target = {
              type               = "Utilization"
              averageUtilization = floor(var.autoscaling_cpu_target[name])
            }
          }
        }]
      }
    }
  }

  # Prometheus alerting rules whose thresholds are each service's tuned values.
  alert_rules = {
    groups = [for name in local.services : {
      name = "${name}-ai-ops"
      rules = [
        {
          alert  = "HighCPU"
          expr   = "service:cpu_utilization:percent{namespace=\"${var.namespace}\",deployment=\"${name}\"} > ${var.alert_cpu_utilization[name]}"
          for    = "10m"
          labels = { severity = "warning" }
        },
        {
          alert  = "HighLatencyP95"
          expr   = "service:latency_p95:ms{namespace=\"${var.namespace}\",deployment=\"${name}\"} > ${var.alert_latency_p95_ms[name]}"
          for    = "5m"
          labels = { severity = "critical" }
        },
        {
          alert  = "HighErrorRate"
          expr   = "service:error_rate:percent{namespace=\"${var.namespace}\",deployment=\"${name}\"} > ${var.alert_error_rate[name]}"
          for    = "5m"
          labels = { severity = "critical" }
        },
      ]
    }]
  }
}

output "hpa_manifests" {
  description = "One HPA object per service; feed each to kubernetes_manifest (for_each) in your module."
  value       = local.hpa_manifests
}

output "alert_rules_yaml" {
  description = "Prometheus rule file content; feed it to a ConfigMap or a PrometheusRule."
  value       = yamlencode(local.alert_rules)
}
