# Quick start on the local cloud: an emulated ACK cluster, a team namespace with a quota and the
# team's OSS credentials, and a Spark job whose jar and input live on the emulated OSS. The
# driver pod runs the image built by `image-builder`: its launcher fetches the jar and the input
# from OSS, then Spark counts the words. `scripts/demo` starts the local cloud and passes its
# endpoints in as variables and its keys through the environment (TF_VAR_oss_access_key_*);
# nothing here reaches Alibaba Cloud.

terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss", version = "~> 0.1" }
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
  default     = "sparkoss/spark-oss:3.5.3"
}

variable "oss_access_key_id" {
  description = "AccessKey ID the job's pods use to read OSS (stored in the namespace's Secret)."
  type        = string
  sensitive   = true
}

variable "oss_access_key_secret" {
  description = "Its secret."
  type        = string
  sensitive   = true
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

  # A Secret in the namespace that the team's jobs read OSS with.
  oss_credentials {
    access_key_id     = var.oss_access_key_id
    access_key_secret = var.oss_access_key_secret
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
  # The launcher downloads the input next to the jar; the job opens it by its base name.
  files                  = ["oss://sparkoss-demo/input/words.txt"]
  args                   = ["words.txt"]
  oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret

  driver {
    cores  = 1
    memory = "512m"
  }

  # Two executor pods, created by Spark's scheduler in the driver through the Kubernetes API.
  # The input is a file in the driver's working directory (`files`): the job reads it on the
  # driver and parallelizes its lines to the executors.
  executor {
    instances = 2
    cores     = 1
    memory    = "512m"
  }
}

output "job_state" {
  value = sparkoss_job.wordcount.state
}

output "driver_pod" {
  value = sparkoss_job.wordcount.driver_pod
}

output "exit_code" {
  value = sparkoss_job.wordcount.exit_code
}

output "cpu_core_seconds" {
  value = sparkoss_job.wordcount.cpu_core_seconds
}

output "memory_gib_seconds" {
  value = sparkoss_job.wordcount.memory_gib_seconds
}
