resource "sparkoss_cluster" "analytics" {
  name         = "analytics"
  cluster_spec = "ack.pro.small"
  vpc_id       = "vpc-bp1example"
  vswitch_ids  = ["vsw-bp1example"]
  tags         = { team = "data" }

  # ACK's ack-virtual-node add-on: a virtual node (ECI) labelled type=virtual-kubelet and tainted
  # virtual-kubelet.io/provider=alibabacloud:NoSchedule, for executors that select and tolerate it.
  virtual_nodes = true

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

  # Spot capacity for executors only: the taint keeps every pod without the toleration away.
  worker_pool {
    name           = "spark-spot"
    instance_types = ["ecs.g7.2xlarge"]
    min_size       = 0
    max_size       = 20
    spot_strategy  = "SpotWithPriceLimit"

    spot_price_limit {
      instance_type = "ecs.g7.2xlarge"
      price_limit   = "0.62"
    }

    taints {
      key    = "workload"
      value  = "spot"
      effect = "NoSchedule"
    }
  }

  timeouts {
    create = "45m"
    update = "30m"
  }
}
