resource "sparkoss_cluster" "analytics" {
  name         = "analytics"
  cluster_spec = "ack.pro.small"
  vpc_id       = "vpc-bp1example"
  vswitch_ids  = ["vsw-bp1example"]
  tags         = { team = "data" }

  worker_pool {
    name           = "spark"
    instance_types = ["ecs.g7.2xlarge"]
    min_size       = 1
    max_size       = 20
  }

  # Pools can be added, resized or removed later without replacing the cluster.
  worker_pool {
    name           = "spark-memory"
    instance_types = ["ecs.r7.2xlarge"]
    min_size       = 0
    max_size       = 10
    labels         = { "sparkoss.io/pool" = "memory" }
  }

  timeouts {
    create = "45m"
    update = "30m"
  }
}
