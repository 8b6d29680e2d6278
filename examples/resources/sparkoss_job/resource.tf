resource "sparkoss_job" "etl" {
  kubeconfig       = sparkoss_cluster.analytics.kubeconfig
  namespace        = sparkoss_namespace.team_a.name
  name             = "etl"
  user             = "alice"
  image            = "registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3"
  main_application = "oss://acme-jobs/etl/etl-1.4.jar"
  main_class       = "com.acme.Etl"
  args             = ["--date", "2026-11-23", "--rules", "rules.yaml"]
  # Downloaded next to the job before Spark starts: `args` name them by base name.
  files = ["oss://acme-jobs/etl/conf/rules.yaml"]

  # The namespace's OSS credentials (see sparkoss_namespace.oss_credentials).
  oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret

  driver {
    cores  = 1
    memory = "2g"
  }

  executor {
    instances = 4
    cores     = 2
    memory    = "4g"
  }

  spark_conf = { "spark.sql.shuffle.partitions" = "64" }
}

# A PySpark job: the `.py` decides the kind (no main_class); its helper modules come as a zip
# in `py_files`, on the Python path of the driver and of the executors' Python workers.
resource "sparkoss_job" "sessions" {
  kubeconfig       = sparkoss_cluster.analytics.kubeconfig
  namespace        = sparkoss_namespace.team_a.name
  name             = "sessions"
  user             = "alice"
  image            = "registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3"
  main_application = "oss://acme-jobs/sessions/sessions.py"
  py_files         = ["oss://acme-jobs/sessions/lib/sessionize.zip"]
  args             = ["--date", "2026-11-23"]

  oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret

  executor {
    instances = 2
    cores     = 2
    memory    = "4g"
  }
}

# Executors that grow and shrink with the work, on ACK's virtual node (ECI); the driver on the
# regular pool; a failed driver is submitted once more.
resource "sparkoss_job" "elastic" {
  kubeconfig       = sparkoss_cluster.analytics.kubeconfig
  namespace        = sparkoss_namespace.team_a.name
  name             = "etl-elastic"
  user             = "alice"
  image            = "registry.cn-hangzhou.aliyuncs.com/acme/spark-oss:3.5.3"
  main_application = "oss://acme-jobs/etl/etl-1.4.jar"
  main_class       = "com.acme.Etl"
  retries          = 1

  driver {
    cores         = 1
    memory        = "2g"
    node_selector = { "alibabacloud.com/nodepool-id" = "np-regular" }
  }

  executor {
    cores         = 2
    memory        = "4g"
    min_instances = 1
    max_instances = 8
    node_selector = { type = "virtual-kubelet" }

    tolerations {
      key      = "virtual-kubelet.io/provider"
      operator = "Equal"
      value    = "alibabacloud"
      effect   = "NoSchedule"
    }
  }
}
