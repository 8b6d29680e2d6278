# Import a job by namespace/name. The driver pod's `sparkoss.io/job-spec` annotation holds the
# non-sensitive attributes and a SHA-256 of the whole configuration; the sensitive ones (`args`,
# `jars`, `files`, `spark_conf`, `env`) are read back from the job's Secret `<name>-job-spec`
# (so the importing identity needs `get` on Secrets in the namespace), and import fails if they
# do not hash to what the pod ran with.
terraform import sparkoss_job.etl team-a/etl
