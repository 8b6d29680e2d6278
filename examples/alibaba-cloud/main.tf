# Real Alibaba Cloud: an ACK managed cluster with an elastic worker pool, a team namespace,
# and a Spark job whose jar is on OSS. Credentials come from the usual chain
# (ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET, ~/.aliyun/config.json, RRSA or the ECS RAM role).

terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss", version = "~> 0.1" }
  }
}

provider "sparkoss" {
  region = var.region
}

resource "sparkoss_cluster" "analytics" {
  name         = "analytics"
  cluster_spec = "ack.pro.small"
  vpc_id       = var.vpc_id
  vswitch_ids  = var.vswitch_ids
  pod_cidr     = "172.20.0.0/16"
  service_cidr = "172.21.0.0/20"
  tags         = { team = "data" }
  # The ECI virtual node (ack-virtual-node): elastic capacity for executors that tolerate it.
  virtual_nodes = true

  # The stable pool: drivers (and anything without a toleration) run here.
  worker_pool {
    name           = "spark"
    instance_types = var.instance_types
    min_size       = 1
    max_size       = 20
    labels         = { "workload" = "spark" }
  }

  # Spot instances at the market price, tainted so that only executors that tolerate
  # workload=spot:NoSchedule are placed on them.
  worker_pool {
    name           = "spark-spot"
    instance_types = var.instance_types
    min_size       = 0
    max_size       = 40
    spot_strategy  = "SpotAsPriceGo"
    labels         = { "workload" = "spark-spot" }

    taints {
      key    = "workload"
      value  = "spot"
      effect = "NoSchedule"
    }
  }
}

resource "sparkoss_namespace" "team_a" {
  kubeconfig = sparkoss_cluster.analytics.kubeconfig
  name       = "team-a"
  user       = "team-a"

  quota {
    cpu    = "64"
    memory = "256Gi"
  }
}

resource "sparkoss_job" "etl" {
  kubeconfig       = sparkoss_cluster.analytics.kubeconfig
  namespace        = sparkoss_namespace.team_a.name
  name             = "etl"
  user             = "alice"
  image            = var.image
  main_application = var.main_application
  main_class       = "com.acme.Etl"
  args             = ["--date", "2026-11-23"]

  driver {
    cores  = 1
    memory = "2g"
  }

  executor {
    instances = 4
    cores     = 2
    memory    = "4g"
  }

  spark_conf = {
    "spark.sql.shuffle.partitions" = "64"
  }
}
