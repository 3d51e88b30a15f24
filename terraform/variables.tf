# Thresholds tuned by ai-ops. The controller writes their values to ai_ops.auto.tfvars.json.

variable "alert_cpu_utilization" {
  type        = number
  description = "Tuned by ai-ops (%). Bounds 50..99, max step 5."
  default     = 90

  validation {
    condition     = var.alert_cpu_utilization >= 50 && var.alert_cpu_utilization <= 99
    error_message = "The value of alert_cpu_utilization must be between 50 and 99."
  }
}

variable "alert_error_rate" {
  type        = number
  description = "Tuned by ai-ops (%). Bounds 0.05..10, max step 0.25."
  default     = 1

  validation {
    condition     = var.alert_error_rate >= 0.05 && var.alert_error_rate <= 10
    error_message = "The value of alert_error_rate must be between 0.05 and 10."
  }
}

variable "alert_latency_p95_ms" {
  type        = number
  description = "Tuned by ai-ops (ms). Bounds 100..5000, max step 100."
  default     = 500

  validation {
    condition     = var.alert_latency_p95_ms >= 100 && var.alert_latency_p95_ms <= 5000
    error_message = "The value of alert_latency_p95_ms must be between 100 and 5000."
  }
}

variable "autoscaling_cpu_target" {
  type        = number
  description = "Tuned by ai-ops (%). Bounds 30..90, max step 5."
  default     = 80

  validation {
    condition     = var.autoscaling_cpu_target >= 30 && var.autoscaling_cpu_target <= 90
    error_message = "The value of autoscaling_cpu_target must be between 30 and 90."
  }
}
