# Bring your own Kubernetes (ACK, a private or hybrid cluster): a kubeconfig is enough.

terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss", version = "~> 0.1" }
  }
}

variable "kubeconfig_path" {
  description = "Kubeconfig of the cluster to run on."
  type        = string
  default     = "~/.kube/config"
}

variable "image" {
  description = "The sparkoss image."
  type        = string
}

variable "main_application" {
  description = "The job's jar, e.g. oss://acme-jobs/etl/etl-1.4.jar."
  type        = string
}

# OSS credentials for pre-flight checks come from the usual chain; the region picks the endpoint.
provider "sparkoss" {
  region = "cn-hangzhou"
}

resource "sparkoss_namespace" "team_b" {
  kubeconfig_path = var.kubeconfig_path
  name            = "team-b"
  user            = "team-b"

  quota {
    cpu    = "16"
    memory = "64Gi"
    pods   = "50"
  }

  container_defaults {
    cpu_request    = "500m"
    memory_request = "1Gi"
  }
}

resource "sparkoss_job" "report" {
  kubeconfig_path  = var.kubeconfig_path
  namespace        = sparkoss_namespace.team_b.name
  name             = "daily-report"
  user             = "bob"
  image            = var.image
  main_application = var.main_application
  main_class       = "com.acme.Report"

  executor {
    instances = 2
    cores     = 2
    memory    = "4g"
  }

  oss_credentials_secret = "oss-credentials"
}
