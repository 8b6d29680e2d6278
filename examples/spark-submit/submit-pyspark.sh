#!/usr/bin/env bash
# Plain `spark-submit --deploy-mode cluster` of a PySpark application against a cluster with the
# sparkoss image: the `.py` stays on OSS as an oss:// URI (Spark's own rule makes it a Python
# application: no --class), and the image's entrypoint fetches it in the driver pod before Spark
# starts. Its Python modules are named by SPARKOSS_PY_FILES (driver env, comma-separated, in
# order): the entrypoint fetches them and adds them to spark.submit.pyFiles, so the driver and the
# executors' Python workers import them. Not --py-files: spark-submit resolves --py-files through
# Hadoop on the submitting machine, which has no OSS connector. Same set-up as submit.sh.
#
# Needs what submit.sh needs (SPARK_HOME, kubectl, KUBECONFIG, MASTER, IMAGE, OSS_ENDPOINT, REGION,
# ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET), and
#   PY               oss://bucket/key of the .py
#   PY_FILES         oss:// URIs of its .py/.zip/.egg modules, comma-separated
#   INPUT            oss://bucket/key of its input (fetched into the driver's working directory)
# Optional: NAMESPACE (spark-jobs), EXECUTORS (2), NAME (pywordcount), WAIT (true: spark-submit
# follows the driver to its end; false: it returns once the driver pod is created), KEEP_EXECUTORS
# (false; true keeps the executor pods after the run, for their logs).
set -euo pipefail
ns="${NAMESPACE:-spark-jobs}"
name="${NAME:-pywordcount}"

kubectl get namespace "$ns" >/dev/null 2>&1 || kubectl create namespace "$ns"
kubectl -n "$ns" get serviceaccount spark >/dev/null 2>&1 || kubectl -n "$ns" create serviceaccount spark
kubectl -n "$ns" get rolebinding spark-edit >/dev/null 2>&1 ||
  kubectl -n "$ns" create rolebinding spark-edit --clusterrole=edit --serviceaccount="$ns:spark"
kubectl -n "$ns" delete secret oss-credentials --ignore-not-found >/dev/null
kubectl -n "$ns" create -f - >/dev/null <<EOS
{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oss-credentials"}, "type": "Opaque",
 "stringData": {"ALIBABA_CLOUD_ACCESS_KEY_ID": "$ALIBABA_CLOUD_ACCESS_KEY_ID",
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "$ALIBABA_CLOUD_ACCESS_KEY_SECRET"}}
EOS

export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
exec "$SPARK_HOME/bin/spark-submit" \
  --master "$MASTER" --deploy-mode cluster --name "$name" \
  --conf spark.kubernetes.namespace="$ns" \
  --conf spark.kubernetes.container.image="$IMAGE" \
  --conf spark.kubernetes.authenticate.driver.serviceAccountName=spark \
  --conf spark.kubernetes.submission.waitAppCompletion="${WAIT:-true}" \
  --conf spark.executor.instances="${EXECUTORS:-2}" \
  --conf spark.driver.memory=512m --conf spark.executor.memory=512m \
  --conf spark.kubernetes.executor.deleteOnTermination="$([ "${KEEP_EXECUTORS:-false}" = true ] && echo false || echo true)" \
  --conf spark.kubernetes.driverEnv.SPARKOSS_OSS_ENDPOINT="$OSS_ENDPOINT" \
  --conf spark.kubernetes.driverEnv.ALIBABA_CLOUD_REGION="$REGION" \
  --conf spark.kubernetes.driver.secretKeyRef.ALIBABA_CLOUD_ACCESS_KEY_ID=oss-credentials:ALIBABA_CLOUD_ACCESS_KEY_ID \
  --conf spark.kubernetes.driver.secretKeyRef.ALIBABA_CLOUD_ACCESS_KEY_SECRET=oss-credentials:ALIBABA_CLOUD_ACCESS_KEY_SECRET \
  --conf spark.kubernetes.driver.label.sparkoss.io/job="$name" \
  --conf spark.kubernetes.executor.label.sparkoss.io/job="$name" \
  --conf spark.kubernetes.driverEnv.SPARKOSS_FILES="$INPUT" \
  --conf spark.kubernetes.driverEnv.SPARKOSS_PY_FILES="$PY_FILES" \
  "$PY" "$(basename "$INPUT")"
