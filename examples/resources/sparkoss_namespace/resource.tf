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
}
