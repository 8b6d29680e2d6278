# A PySpark job on the local cloud: the same cluster and namespace as the quick start, and a
# `sparkoss_job` whose main application is a `.py` on OSS. The launcher fetches the `.py`, the
# `textutil.zip` helper module (`py_files`) and the input, then Spark runs the script with the
# image's Python; its executors run the Python UDF in Python workers. Upload first (from this
# folder, with the local cloud's OSS):
#   (cd textutil && zip ../textutil.zip textutil.py)
#   oss://sparkoss-demo/pyspark/wordcount.py, oss://sparkoss-demo/pyspark/textutil.zip,
#   oss://sparkoss-demo/input/words.txt

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
  description = "The sparkoss Spark image (its base is the Python variant of the Spark image)."
  type        = string
  default     = "sparkoss/spark-oss:3.5.3"
}

variable "args" {
  description = "Arguments of wordcount.py: the input's base name."
  type        = list(string)
  default     = ["words.txt"]
}

variable "spark_conf" {
  description = "Extra Spark configuration."
  type        = map(string)
  default     = {}
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
  endpoints {
    ack = var.ack_endpoint
    oss = var.oss_endpoint
  }
}

resource "sparkoss_cluster" "demo" {
  name = "sparkoss-pyspark"

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

  oss_credentials {
    access_key_id     = var.oss_access_key_id
    access_key_secret = var.oss_access_key_secret
  }
}

resource "sparkoss_job" "wordcount" {
  kubeconfig       = sparkoss_cluster.demo.kubeconfig
  name             = "pywordcount"
  namespace        = sparkoss_namespace.team_a.name
  user             = "alice"
  image            = var.image
  main_application = "oss://sparkoss-demo/pyspark/wordcount.py"
  # On the Python path of the driver and of the executors' Python workers.
  py_files               = ["oss://sparkoss-demo/pyspark/textutil.zip"]
  files                  = ["oss://sparkoss-demo/input/words.txt"]
  args                   = var.args
  spark_conf             = var.spark_conf
  oss_credentials_secret = sparkoss_namespace.team_a.oss_credentials_secret

  driver {
    cores  = 1
    memory = "512m"
  }

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
