# The schedule ai-ops computes from its demand forecast: per service, blocks of UTC hours with
# the minimum replicas to hold. Same type as the controller's `autoscaling_min_replicas_schedule`.
variable "autoscaling_min_replicas_schedule" {
  type = map(list(object({
    start_hour   = number
    end_hour     = number
    min_replicas = number
  })))
  description = "Per service: UTC hour blocks [start_hour, end_hour) and the minimum replicas to hold in each."
  default = {
    checkout = [
      { start_hour = 0, end_hour = 6, min_replicas = 3 },
      { start_hour = 6, end_hour = 12, min_replicas = 6 },
      { start_hour = 12, end_hour = 21, min_replicas = 9 },
      { start_hour = 21, end_hour = 24, min_replicas = 4 },
    ]
  }

  validation {
    condition = alltrue(flatten([
      for blocks in values(var.autoscaling_min_replicas_schedule) : [
        for b in blocks : b.start_hour >= 0 && b.start_hour < b.end_hour && b.end_hour <= 24 && b.min_replicas >= 1 && floor(b.min_replicas) == b.min_replicas
      ]
    ]))
    error_message = "Every block needs 0 <= start_hour < end_hour <= 24 and a whole min_replicas >= 1."
  }
}

variable "namespace" {
  type        = string
  description = "Kubernetes namespace of the workloads."
  default     = "prod"
}
