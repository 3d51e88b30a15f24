# KEDA: one ScaledObject per service whose cron triggers hold the scheduled minimum replicas,
# next to the CPU trigger that keeps scaling above them. Locals and outputs only, so
# `terraform validate` runs offline; in your module pass each manifest to kubernetes_manifest.

variable "autoscaling_cpu_target" {
  type        = map(number)
  description = "Per service CPU target (percent) of the reactive trigger."
  default     = { checkout = 70 }
}

variable "max_replicas" {
  type        = number
  description = "ScaledObject maxReplicaCount."
  default     = 60
}

locals {
  scaled_objects = {
    for service, blocks in var.autoscaling_min_replicas_schedule : service => {
      apiVersion = "keda.sh/v1alpha1"
      kind       = "ScaledObject"
      metadata   = { name = service, namespace = var.namespace }
      spec = {
        scaleTargetRef  = { name = service }
        maxReplicaCount = var.max_replicas
        triggers = concat(
          [for b in blocks : {
            type = "cron"
            metadata = {
              timezone        = "Etc/UTC"
              start           = "0 ${b.start_hour} * * *"
              end             = "0 ${b.end_hour % 24} * * *"
              desiredReplicas = tostring(b.min_replicas)
            }
          }],
          [{
            type       = "cpu"
            metricType = "Utilization"
            metadata   = { value = tostring(floor(lookup(var.autoscaling_cpu_target, service, 70))) }
          }]
        )
      }
    }
  }
}

output "scaled_objects" {
  description = "One KEDA ScaledObject per service: feed each to kubernetes_manifest."
  value       = local.scaled_objects
}
