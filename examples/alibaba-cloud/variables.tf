variable "region" {
  description = "Region of the cluster and the OSS bucket, e.g. cn-hangzhou."
  type        = string
  default     = "cn-hangzhou"
}

variable "vpc_id" {
  description = "An existing VPC for the cluster."
  type        = string
}

variable "vswitch_ids" {
  description = "vSwitches (in that VPC) for the control plane and the workers."
  type        = list(string)
}

variable "instance_types" {
  description = "ECS instance types of the Spark worker pool, in order of preference."
  type        = list(string)
  default     = ["ecs.g7.2xlarge", "ecs.g6.2xlarge"]
}

variable "image" {
  description = "The sparkoss image, built once with `image-builder build --spark 3.5.3 --push`."
  type        = string
}

variable "main_application" {
  description = "The job's jar on OSS, e.g. oss://acme-jobs/etl/etl-1.4.jar."
  type        = string
}
