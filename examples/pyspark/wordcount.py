"""PySpark word count: sparkoss's PySpark example.

The input file (the first argument) is in the driver's working directory: sparkoss_job's `files`
put it there. Its lines go to the executors, where a Python UDF normalizes each word with the
`textutil` module, which comes from the `py_files` zip (`textutil.zip`), so the executors' Python
workers import it too. Prints `pyspark-wordcount: total=N distinct=M`, the top words, and on how
many hosts the UDF ran.
"""

import os
import socket
import sys

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

import textutil


@F.udf(returnType=StringType())
def normalize(word):
    # Runs in a Python worker on an executor.
    return textutil.normalize(word)


@F.udf(returnType=StringType())
def where():
    return socket.gethostname()


def main(args):
    if not args:
        raise ValueError("usage: wordcount.py INPUT")
    spark = SparkSession.builder.appName("pyspark-wordcount").getOrCreate()
    path = args[0]
    if not os.path.isfile(path):
        raise ValueError(f"no input file {path!r} in the working directory")
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    df = spark.createDataFrame([(line,) for line in lines], ["line"]).repartition(4)
    words = df.select(F.explode(F.split(F.col("line"), textutil.SEPARATORS)).alias("raw"))
    words = words.select(normalize(F.col("raw")).alias("word"), where().alias("host")).where(F.col("word") != "")
    words.cache()
    counts = words.groupBy("word").count().orderBy(F.desc("count"), F.asc("word")).collect()
    hosts = sorted(r["host"] for r in words.select("host").distinct().collect())
    total = sum(r["count"] for r in counts)
    print(f"pyspark-wordcount: total={total} distinct={len(counts)}")
    for r in counts[:5]:
        print(f"pyspark-wordcount: {r['word']}={r['count']}")
    print(f"pyspark-wordcount: udf ran on {len(hosts)} hosts: {','.join(hosts)}")
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
