# Example module: how your Terraform consumes the thresholds ai-ops tunes.
#
# It only builds values (locals and outputs), so `terraform validate` and `plan` run
# offline with no provider to download. In your own module, pass these values to real
# resources; docs/terraform.md shows the kubernetes_manifest and
# kubernetes_horizontal_pod_autoscaler_v2 forms.

variable "service_name" {
  type        = string
  description = "Workload the autoscaler and the alerts are for."
  default     = "checkout"
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the workload."
  default     = "prod"
}

variable "min_replicas" {
  type        = number
  description = "HPA minReplicas (not tuned by ai-ops)."
  default     = 2
}

variable "max_replicas" {
  type        = number
  description = "HPA maxReplicas (not tuned by ai-ops)."
  default     = 60
}

locals {
  # A Kubernetes HorizontalPodAutoscaler (autoscaling/v2) scaling on average CPU.
  hpa_manifest = {
    apiVersion = "autoscaling/v2"
    kind       = "HorizontalPodAutoscaler"
    metadata = {
      name      = var.service_name
      namespace = var.namespace
    }
    spec = {
      scaleTargetRef = {
        apiVersion = "apps/v1"
        kind       = "Deployment"
        name       = var.service_name
      }
      minReplicas = var.min_replicas
      maxReplicas = var.max_replicas
      metrics = [{
        type = "Resource"
        resource = {
          name = "cpu"
          target = {
            type               = "Utilization"
            averageUtilization = floor(var.autoscaling_cpu_target)
          }
        }
      }]
    }
  }

  # Prometheus alerting rules whose thresholds are the tuned variables.
  selector = "namespace=\"${var.namespace}\",deployment=\"${var.service_name}\""
  alert_rules = {
    groups = [{
      name = "${var.service_name}-ai-ops"
      rules = [
        {
          alert  = "HighCPU"
          expr   = "service:cpu_utilization:percent{${local.selector}} > ${var.alert_cpu_utilization}"
          for    = "10m"
          labels = { severity = "warning" }
        },
        {
          alert  = "HighLatencyP95"
          expr   = "service:latency_p95:ms{${local.selector}} > ${var.alert_latency_p95_ms}"
          for    = "5m"
          labels = { severity = "critical" }
        },
        {
          alert  = "HighErrorRate"
          expr   = "service:error_rate:percent{${local.selector}} > ${var.alert_error_rate}"
          for    = "5m"
          labels = { severity = "critical" }
        },
      ]
    }]
  }
}

output "hpa_manifest" {
  description = "The HPA object; feed it to kubernetes_manifest in your module."
  value       = local.hpa_manifest
}

output "alert_rules_yaml" {
  description = "Prometheus rule file content; feed it to a ConfigMap or a PrometheusRule."
  value       = yamlencode(local.alert_rules)
}
