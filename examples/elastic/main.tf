# Elastic Spark on ACK: the driver on the regular node pool, executors that grow and shrink with
# the work (Spark's dynamic allocation with shuffle tracking) on elastic capacity: ACK's virtual
# node (ECI) or a spot node pool. A driver that fails is submitted again once.
#
# Needs a cluster with the `ack-virtual-node` add-on (a node labelled `type=virtual-kubelet`,
# tainted `virtual-kubelet.io/provider=alibabacloud:NoSchedule`) and, for the spot variant, a
# node pool of spot instances tainted `spot=true:NoSchedule` so only jobs that tolerate it land
# there. ACK labels each node with its pool: `alibabacloud.com/nodepool-id`.

terraform {
  required_providers {
    sparkoss = { source = "sparkoss/sparkoss", version = "~> 0.1" }
  }
}

variable "kubeconfig_path" {
  description = "Kubeconfig of the ACK cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "regular_pool_id" {
  description = "Node pool the drivers run on (its nodes are labelled alibabacloud.com/nodepool-id=<id>)."
  type        = string
}

variable "spot_pool_id" {
  description = "Spot node pool for the second job's executors."
  type        = string
}

variable "image" {
  description = "The sparkoss Spark image."
  type        = string
  default     = "registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3"
}

provider "sparkoss" {
  region = "cn-hangzhou"
}

# Executors on the virtual node (ECI): pods start in seconds and are billed while they run.
resource "sparkoss_job" "on_eci" {
  kubeconfig_path  = var.kubeconfig_path
  namespace        = "team-a"
  name             = "etl-eci"
  user             = "team-a"
  image            = var.image
  main_application = "oss://acme-jobs/etl/etl-1.4.jar"
  main_class       = "com.acme.Etl"
  retries          = 1
  retry_interval   = "30s"

  driver {
    cores         = 1
    memory        = "2g"
    node_selector = { "alibabacloud.com/nodepool-id" = var.regular_pool_id }
  }

  executor {
    cores         = 2
    memory        = "4g"
    min_instances = 1
    max_instances = 20 # the quota pre-flight (at plan and apply) counts the driver + 20 executors
    node_selector = { type = "virtual-kubelet" }
    # ECI sizes the instance from this annotation (else from the requests).
    annotations = { "k8s.aliyun.com/eci-use-specs" = "2-8Gi" }

    tolerations {
      key      = "virtual-kubelet.io/provider"
      operator = "Equal"
      value    = "alibabacloud"
      effect   = "NoSchedule"
    }
  }

  spark_conf = {
    # Release idle executors sooner than Spark's 60s; shuffle data held by an executor is kept
    # until its shuffle is no longer needed, or this long.
    "spark.dynamicAllocation.executorIdleTimeout"     = "30s"
    "spark.dynamicAllocation.shuffleTracking.timeout" = "10m"
  }
}

# Executors on a spot pool: cheaper, may be reclaimed; Spark reruns lost tasks.
resource "sparkoss_job" "on_spot" {
  kubeconfig_path  = var.kubeconfig_path
  namespace        = "team-a"
  name             = "etl-spot"
  user             = "team-a"
  image            = var.image
  main_application = "oss://acme-jobs/etl/etl-1.4.jar"
  main_class       = "com.acme.Etl"

  driver {
    cores         = 1
    memory        = "2g"
    node_selector = { "alibabacloud.com/nodepool-id" = var.regular_pool_id }
  }

  executor {
    cores         = 2
    memory        = "4g"
    min_instances = 0
    max_instances = 10
    node_selector = { "alibabacloud.com/nodepool-id" = var.spot_pool_id }
    labels        = { "example.com/capacity" = "spot" }

    tolerations {
      key      = "spot"
      operator = "Equal"
      value    = "true"
      effect   = "NoSchedule"
    }
  }
}
