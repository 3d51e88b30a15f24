# AWS Auto Scaling: one scheduled action per service and block, setting the group's minimum
# size at the block's start (UTC cron). Locals and outputs only, so `terraform validate` runs
# offline; in your module create them with
#   resource "aws_autoscaling_schedule" "ai_ops" {
#     for_each               = local.scheduled_actions
#     scheduled_action_name  = each.key
#     autoscaling_group_name = each.value.autoscaling_group_name
#     recurrence             = each.value.recurrence
#     time_zone              = each.value.time_zone
#     min_size               = each.value.min_size
#     max_size               = each.value.max_size
#     desired_capacity       = each.value.desired_capacity
#   }

variable "autoscaling_group_names" {
  type        = map(string)
  description = "Per service: the Auto Scaling group it runs in."
  default     = { checkout = "checkout-asg" }
}

variable "max_size" {
  type        = number
  description = "The groups' maximum size (unchanged by the schedule)."
  default     = 60
}

locals {
  scheduled_actions = merge([
    for service, blocks in var.autoscaling_min_replicas_schedule : {
      for b in blocks : "ai-ops-${service}-${format("%02d", b.start_hour)}h" => {
        autoscaling_group_name = var.autoscaling_group_names[service]
        recurrence             = "0 ${b.start_hour} * * *"
        time_zone              = "Etc/UTC"
        min_size               = b.min_replicas
        max_size               = var.max_size
        desired_capacity       = -1 # leave the current capacity to the scaling policies
      }
    }
  ]...)
}

output "scheduled_actions" {
  description = "Arguments of one aws_autoscaling_schedule per service and block."
  value       = local.scheduled_actions
}
