resource "sparkoss_namespace" "team_a" {
  kubeconfig = sparkoss_cluster.analytics.kubeconfig
  name       = "team-a"
  user       = "team-a"

  quota {
    cpu    = "64"
    memory = "256Gi"
    pods   = "200"
  }

  container_defaults {
    cpu_request    = "500m"
    memory_request = "1Gi"
  }

  # Kept in the Secret `sparkoss-oss-credentials`; jobs use it through
  # `oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret`.
  oss_credentials {
    access_key_id     = var.team_a_oss_access_key_id
    access_key_secret = var.team_a_oss_access_key_secret
  }
}

variable "team_a_oss_access_key_id" {
  description = "AccessKey ID of team A's RAM user for OSS (pass it with TF_VAR_team_a_oss_access_key_id)."
  type        = string
  sensitive   = true
}

variable "team_a_oss_access_key_secret" {
  description = "Its secret."
  type        = string
  sensitive   = true
}
