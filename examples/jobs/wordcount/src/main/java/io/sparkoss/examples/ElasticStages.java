package io.sparkoss.examples;

import java.util.ArrayList;
import java.util.List;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import scala.Tuple2;

/**
 * A job whose work is first narrow, then wide, then idle: what dynamic allocation is for.
 *
 * <p>Usage: {@code ElasticStages <tasks> <task-ms> <idle-seconds> [<marker>]}. A one-task stage
 * runs first (one executor is enough); then a stage of {@code tasks} tasks of {@code task-ms}
 * milliseconds each, shuffled into a count per key (with dynamic allocation Spark asks for more
 * executors while those tasks wait); then the driver idles {@code idle-seconds} so idle executors
 * are released while it still runs. It prints {@code sparkoss-elastic: keys=<k> total=<n>}.
 *
 * <p>With {@code marker}, the job fails on purpose the first time it runs: it looks for a
 * ConfigMap of that name in its namespace (through the driver's service account), and when there
 * is none it creates it and exits with an exception. A retry finds the marker and runs.
 */
public final class ElasticStages {
    /** Keys of the wide stage's shuffle. */
    private static final int KEYS = 7;

    private ElasticStages() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: ElasticStages <tasks> <task-ms> <idle-seconds> [<marker>]");
            System.exit(2);
        }
        int tasks = Integer.parseInt(args[0]);
        long taskMs = Long.parseLong(args[1]);
        long idleSeconds = Long.parseLong(args[2]);
        if (args.length > 3) {
            failTheFirstTime(args[3]);
        }
        SparkSession spark = SparkSession.builder().appName("sparkoss-elastic").getOrCreate();
        JavaSparkContext sc = new JavaSparkContext(spark.sparkContext());
        List<Integer> numbers = new ArrayList<>();
        for (int i = 0; i < tasks * 10; i++) {
            numbers.add(i);
        }
        long narrow = sc.parallelize(numbers, 1).count();
        System.out.println("sparkoss-elastic: narrow stage counted " + narrow);
        List<Tuple2<Integer, Long>> counts = sc.parallelize(numbers, tasks)
                .map(x -> {
                    if (x % 10 == 0) {
                        Thread.sleep(taskMs);
                    }
                    return x;
                })
                .mapToPair(x -> new Tuple2<>(x % KEYS, 1L))
                .reduceByKey(Long::sum, 2)
                .collect();
        long total = 0;
        for (Tuple2<Integer, Long> c : counts) {
            total += c._2();
        }
        System.out.println("sparkoss-elastic: keys=" + counts.size() + " total=" + total);
        Thread.sleep(idleSeconds * 1000);
        System.out.println("sparkoss-elastic: done");
        spark.stop();
    }

    private static void failTheFirstTime(String marker) {
        try (KubernetesClient k8s = new KubernetesClientBuilder().build()) {
            String ns = k8s.getNamespace();
            ConfigMap found = k8s.configMaps().inNamespace(ns).withName(marker).get();
            if (found == null) {
                k8s.configMaps().inNamespace(ns)
                        .resource(new ConfigMapBuilder().withNewMetadata().withName(marker).endMetadata()
                                .addToData("failed-once", "true").build())
                        .create();
                throw new IllegalStateException("sparkoss-elastic: first run fails on purpose (marker " + ns + "/" + marker + " created)");
            }
            System.out.println("sparkoss-elastic: marker " + ns + "/" + marker + " found, running");
        }
    }
}
