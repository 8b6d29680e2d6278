package io.sparkoss.examples;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.regex.Pattern;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.SparkSession;

import scala.Tuple2;

/**
 * Counts the words of a text file with Spark.
 *
 * <p>Usage: {@code WordCount <input> [<output-dir>]}. The input is any path Hadoop can read
 * ({@code oss://bucket/key} with the OSS connector), or a file in the driver's working directory
 * (what {@code sparkoss_job.files} fetches there): such a file exists only where the driver runs,
 * so the driver reads it and hands its lines to the executors as a parallelized collection. A word is a maximal run of
 * letters and digits, compared in lower case. The job prints the most frequent words and then one
 * summary line, {@code sparkoss-wordcount: total=<words> distinct=<distinct words>}, which the
 * tests and the demo look for in the driver log. With an output directory it also writes one
 * {@code word<TAB>count} line per distinct word there.
 */
public final class WordCount {
    /** Words are separated by anything that is not a letter or a digit. */
    private static final Pattern SEPARATOR = Pattern.compile("[^\\p{L}\\p{N}]+");

    /** How many of the most frequent words are printed. */
    private static final int TOP = 10;

    private WordCount() {}

    /** Orders by count (highest first), then by word, so the printed ranking is deterministic. */
    static final class ByCountThenWord implements Comparator<Tuple2<String, Long>>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compare(Tuple2<String, Long> a, Tuple2<String, Long> b) {
            int byCount = Long.compare(b._2(), a._2());
            return byCount != 0 ? byCount : a._1().compareTo(b._1());
        }
    }

    /** Partitions of a driver-local input, so that every executor gets tasks. */
    private static final int PARTITIONS = 4;

    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 2) {
            System.err.println("usage: WordCount <input> [<output-dir>]");
            System.exit(2);
        }
        String input = args[0];
        SparkSession spark = SparkSession.builder().appName("sparkoss-wordcount").getOrCreate();
        try {
            JavaRDD<String> lines;
            if (input.contains("://")) {
                lines = spark.read().textFile(input).javaRDD();
            } else {
                // Only the driver has this file; executors get its lines, in several partitions.
                List<String> local = Files.readAllLines(Paths.get(input), StandardCharsets.UTF_8);
                lines = JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(local, PARTITIONS);
            }
            JavaRDD<String> words = lines
                    .flatMap(line -> Arrays.asList(SEPARATOR.split(line.toLowerCase(Locale.ROOT))).iterator())
                    .filter(word -> !word.isEmpty());
            // Cached: the summary, the ranking and the optional output all read the same counts.
            JavaPairRDD<String, Long> counts = words.mapToPair(word -> new Tuple2<>(word, 1L))
                    .reduceByKey(Long::sum)
                    .cache();
            long distinct = counts.count();
            long total = distinct == 0 ? 0 : counts.values().reduce(Long::sum);
            List<Tuple2<String, Long>> top = counts.takeOrdered(TOP, new ByCountThenWord());
            System.out.println("sparkoss-wordcount: top " + top.size() + " words of " + input);
            for (Tuple2<String, Long> t : top) {
                System.out.println("sparkoss-wordcount: " + t._1() + "\t" + t._2());
            }
            if (args.length == 2) {
                counts.map(t -> t._1() + "\t" + t._2()).saveAsTextFile(args[1]);
                System.out.println("sparkoss-wordcount: wrote " + distinct + " counts to " + args[1]);
            }
            // Last, so a reader of the log finds the result at its end.
            System.out.println("sparkoss-wordcount: total=" + total + " distinct=" + distinct);
        } finally {
            spark.stop();
        }
    }
}
