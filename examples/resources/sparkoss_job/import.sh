# Import a job by namespace/name.
terraform import sparkoss_job.etl team-a/etl
