# Thresholds tuned by ai-ops, one value per service (a map keyed by service name).
# The controller writes their values to ai_ops.auto.tfvars.json.

variable "alert_cpu_utilization" {
  type        = map(number)
  description = "Tuned by ai-ops (%), one value per service. Bounds 50..99, max step 5."
  default = {
    "checkout"        = 90
    "search"          = 90
    "recommendations" = 90
  }

  validation {
    condition     = alltrue([for v in values(var.alert_cpu_utilization) : v >= 50 && v <= 99])
    error_message = "Every value of alert_cpu_utilization must be between 50 and 99."
  }
}

variable "alert_error_rate" {
  type        = map(number)
  description = "Tuned by ai-ops (%), one value per service. Bounds 0.05..10, max step 0.25."
  default = {
    "checkout"        = 1
    "search"          = 1
    "recommendations" = 1
  }

  validation {
    condition     = alltrue([for v in values(var.alert_error_rate) : v >= 0.05 && v <= 10])
    error_message = "Every value of alert_error_rate must be between 0.05 and 10."
  }
}

variable "alert_latency_p95_ms" {
  type        = map(number)
  description = "Tuned by ai-ops (ms), one value per service. Bounds 100..5000, max step 100."
  default = {
    "checkout"        = 500
    "search"          = 500
    "recommendations" = 500
  }

  validation {
    condition     = alltrue([for v in values(var.alert_latency_p95_ms) : v >= 100 && v <= 5000])
    error_message = "Every value of alert_latency_p95_ms must be between 100 and 5000."
  }
}

variable "autoscaling_cpu_target" {
  type        = map(number)
  description = "Tuned by ai-ops (%), one value per service. Bounds 30..90, max step 5."
  default = {
    "checkout"        = 80
    "search"          = 80
    "recommendations" = 80
  }

  validation {
    condition     = alltrue([for v in values(var.autoscaling_cpu_target) : v >= 30 && v <= 90])
    error_message = "Every value of autoscaling_cpu_target must be between 30 and 90."
  }
}
