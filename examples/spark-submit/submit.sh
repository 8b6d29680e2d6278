#!/usr/bin/env bash
# Plain `spark-submit --deploy-mode cluster` against a cluster (the local cloud, ACK or any other)
# with the sparkoss image: the application jar and its input stay on OSS as oss:// URIs; the
# image's entrypoint fetches them in the driver pod before Spark starts, so no Hadoop OSS
# connector is needed just to get the jar. The input is named by SPARKOSS_FILES (driver env), not
# --files: spark-submit resolves --files through Hadoop on the submitting machine. Spark's own set-up is used unchanged: a service
# account with the `edit` cluster role in the job's namespace.
#
# Needs: SPARK_HOME (a Spark 3.5 distribution, e.g. pyspark's), kubectl, and
#   KUBECONFIG       an admin kubeconfig of the cluster (the local cloud writes one: its "kubeconfig")
#   MASTER           k8s://https://<API server>   (the kubeconfig's server)
#   IMAGE            the sparkoss image, e.g. sparkoss/spark-oss:3.5.3
#   OSS_ENDPOINT     the OSS endpoint pods use (the local cloud's "oss_endpoint")
#   REGION           the OSS region (requests are signed for it): cn-local on the local cloud
#   ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET   read access to the bucket
#   JAR, INPUT       oss://bucket/key of the job jar and of its input
# Optional: NAMESPACE (spark-jobs), EXECUTORS (2).
set -euo pipefail
ns="${NAMESPACE:-spark-jobs}"

# Spark's documented RBAC set-up, and the OSS keys as a Secret (never on a command line).
kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
kubectl -n "$ns" get serviceaccount spark >/dev/null 2>&1 || kubectl -n "$ns" create serviceaccount spark
kubectl -n "$ns" get rolebinding spark-edit >/dev/null 2>&1 ||
  kubectl -n "$ns" create rolebinding spark-edit --clusterrole=edit --serviceaccount="$ns:spark"
# `create` rather than `apply`: apply would copy the keys into an annotation of the Secret.
kubectl -n "$ns" delete secret oss-credentials --ignore-not-found >/dev/null
kubectl -n "$ns" create -f - >/dev/null <<EOF
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oss-credentials"}, "type": "Opaque",
 "stringData": {"ALIBABA_CLOUD_ACCESS_KEY_ID": "$ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "$ALIBABA_CLOUD_ACCESS_KEY_SECRET"}}
EOF

# spark-submit itself listens on nothing in cluster mode; keep its address lookups on loopback.
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
exec "$SPARK_HOME/bin/spark-submit" \
  --master "$MASTER" --deploy-mode cluster \
  --name wordcount --class io.sparkoss.examples.WordCount \
  --conf spark.kubernetes.namespace="$ns" \
  --conf spark.kubernetes.container.image="$IMAGE" \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=spark \
  --conf spark.executor.instances="${EXECUTORS:-2}" \
  --conf spark.driver.memory=512m --conf spark.executor.memory=512m \
  --conf spark.kubernetes.driverEnv.SPARKOSS_OSS_ENDPOINT="$OSS_ENDPOINT" \
  --conf spark.kubernetes.driverEnv.ALIBABA_CLOUD_REGION="$REGION" \
  --conf spark.kubernetes.driver.secretKeyRef.ALIBABA_CLOUD_ACCESS_KEY_ID=oss-credentials:ALIBABA_CLOUD_ACCESS_KEY_ID \
  --conf spark.kubernetes.driver.secretKeyRef.ALIBABA_CLOUD_ACCESS_KEY_SECRET=oss-credentials:ALIBABA_CLOUD_ACCESS_KEY_SECRET \
  --conf spark.kubernetes.driver.label.sparkoss.io/job=wordcount \
  --conf spark.kubernetes.executor.label.sparkoss.io/job=wordcount \
  --conf spark.kubernetes.driverEnv.SPARKOSS_FILES="$INPUT" \
  "$JAR" "$(basename "$INPUT")"
