# Quick start on the local cloud: an emulated ACK cluster, a team namespace with a quota, and a
# Spark job whose jar lives on the emulated OSS. `scripts/demo` starts the local cloud and
# passes its endpoints and keys in as variables; nothing here reaches Alibaba Cloud.

terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss" }
  }
}

variable "ack_endpoint" {
  description = "ACK OpenAPI endpoint of the local cloud."
  type        = string
  default     = "http://127.0.0.1:18080"
}

variable "oss_endpoint" {
  description = "OSS endpoint of the local cloud."
  type        = string
  default     = "http://127.0.0.1:18081"
}

variable "image" {
  description = "The sparkoss Spark image (built by image-builder and pushed to the local registry)."
  type        = string
  default     = "127.0.0.1:5000/sparkoss/spark-oss:3.5.3"
}

provider "sparkoss" {
  region = "cn-local"
  # Credentials: ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET (the local cloud's keys).
  endpoints {
    ack = var.ack_endpoint
    oss = var.oss_endpoint
  }
}

resource "sparkoss_cluster" "demo" {
  name = "sparkoss-demo"

  worker_pool {
    name           = "spark"
    instance_types = ["ecs.g7.xlarge"]
    min_size       = 1
    max_size       = 3
  }
}

resource "sparkoss_namespace" "team_a" {
  kubeconfig = sparkoss_cluster.demo.kubeconfig
  name       = "team-a"
  user       = "team-a"

  quota {
    cpu    = "8"
    memory = "16Gi"
    pods   = "20"
  }
}

resource "sparkoss_job" "wordcount" {
  kubeconfig       = sparkoss_cluster.demo.kubeconfig
  name             = "wordcount"
  namespace        = sparkoss_namespace.team_a.name
  user             = "alice"
  image            = var.image
  main_application = "oss://sparkoss-demo/jobs/wordcount.jar"
  main_class       = "io.sparkoss.examples.WordCount"
  args             = ["oss://sparkoss-demo/input/words.txt"]

  driver {
    cores  = 1
    memory = "512m"
  }

  # No executors: Spark runs locally inside the driver pod, enough for the demo.
  executor {
    instances = 0
  }
}

output "job_state" {
  value = sparkoss_job.wordcount.state
}

output "driver_pod" {
  value = sparkoss_job.wordcount.driver_pod
}
