//! Reading a failed PySpark driver's log for what a person needs first: the Python exception
//! (`ValueError: ...`) and the frames of its traceback that are in the user's own files, rather
//! than the `py4j.protocol.Py4JJavaError` and JVM stack traces around it.
//!
//! A PySpark log holds one traceback per Python failure: the driver's own (ending in the
//! exception, or in `Py4JJavaError` when the error came back through the JVM), and, when a Python
//! worker on an executor failed, that worker's traceback inside the JVM exception's message
//! (`org.apache.spark.api.python.PythonException: Traceback (most recent call last):`, or after
//! `pyspark.errors.exceptions.captured.PythonException:`). The one that names the real exception
//! is the last traceback whose exception is not a py4j wrapper.

/// Longest exception line kept.
const MAX_LINE: usize = 1000;

/// What opens a traceback (at the start of a line, or at the end of a JVM exception's message).
const TRACEBACK: &str = "Traceback (most recent call last):";

/// One Python traceback: its frames (the `File ...` line and the source line under it) and the
/// exception line that ends it.
#[derive(Debug)]
struct Traceback {
    frames: Vec<(String, Option<String>)>,
    exception: String,
}

/// Exceptions that only carry another one: the JVM side of a Python call, or Spark's capture of
/// a worker's failure (whose own traceback follows in the log).
fn is_wrapper(exception: &str) -> bool {
    let name = exception.split(':').next().unwrap_or_default().trim();
    matches!(name.rsplit('.').next(), Some("Py4JJavaError" | "Py4JError" | "PythonException"))
}

/// Frames inside PySpark, py4j or the Python standard library: not the user's.
fn is_library_frame(frame: &str) -> bool {
    ["/pyspark/", "pyspark.zip", "/py4j/", "py4j-", "/usr/lib/python3", "/usr/local/lib/python3", "<frozen "]
        .iter()
        .any(|p| frame.contains(p))
}

fn tracebacks(log: &str) -> Vec<Traceback> {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].trim_end().ends_with(TRACEBACK) {
            i += 1;
            continue;
        }
        i += 1;
        let mut frames = Vec::new();
        while i < lines.len() {
            let l = lines[i];
            let t = l.trim_start();
            if t.starts_with("File \"") && l.starts_with(' ') {
                let source = lines.get(i + 1).filter(|n| n.starts_with("    ") && !n.trim_start().starts_with("File \""));
                frames.push((t.trim_end().to_owned(), source.map(|s| s.trim().to_owned())));
                i += if source.is_some() { 2 } else { 1 };
            } else if l.starts_with(' ') || t.is_empty() {
                // Carets under the source (`    ^^^^`) and the like.
                i += 1;
            } else {
                break;
            }
        }
        if let Some(exception) = lines.get(i).map(|l| l.trim()).filter(|l| !l.is_empty()) {
            out.push(Traceback { frames, exception: exception.to_owned() });
        }
    }
    out
}

fn frame_lines(frames: &[(String, Option<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (file, source) in frames.iter().filter(|(f, _)| !is_library_frame(f)) {
        out.push(format!("  {file}"));
        if let Some(s) = source {
            out.push(format!("    {s}"));
        }
    }
    out
}

/// The Python exception that ended a PySpark driver, then the user's frames of its traceback
/// (and, when it was raised in an executor's Python worker, the user's frames of the driver's
/// traceback that led there). `None` when the log holds no Python traceback.
pub fn python_cause(log: &str) -> Option<String> {
    let all = tracebacks(log);
    let (at, tb) = all.iter().enumerate().rev().find(|(_, t)| !is_wrapper(&t.exception)).or_else(|| all.iter().enumerate().next_back())?;
    let mut exception = tb.exception.clone();
    if exception.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !exception.is_char_boundary(cut) {
            cut -= 1;
        }
        exception.truncate(cut);
        exception.push('…');
    }
    let mut out = vec![exception];
    out.extend(frame_lines(&tb.frames));
    // The driver's traceback (the first) shows where the failing action was called.
    if at > 0 {
        let driver = frame_lines(&all[0].frames);
        if !driver.is_empty() {
            out.push("in the driver:".to_owned());
            out.extend(driver);
        }
    }
    Some(out.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exception_raised_in_the_driver_leads_with_the_users_frames() {
        let log = "\
26/12/06 20:00:01 INFO SparkContext: Running Spark version 3.5.3
Traceback (most recent call last):
  File \"/opt/spark/work-dir/etl.py\", line 14, in <module>
    main(sys.argv[1:])
  File \"/opt/spark/work-dir/etl.py\", line 9, in main
    raise ValueError(f\"no input named {args[0]!r}\")
ValueError: no input named 'x.txt'
26/12/06 20:00:02 INFO ShutdownHookManager: Shutdown hook called
";
        assert_eq!(
            python_cause(log).as_deref(),
            Some(
                "ValueError: no input named 'x.txt'\n  File \"/opt/spark/work-dir/etl.py\", line 14, in <module>\n    main(sys.argv[1:])\n  \
                 File \"/opt/spark/work-dir/etl.py\", line 9, in main\n    raise ValueError(f\"no input named {args[0]!r}\")"
            )
        );
        assert_eq!(python_cause("all fine\n"), None);
    }

    #[test]
    fn an_exception_raised_in_an_executors_python_worker_is_found_behind_py4j() {
        let log = "\
Traceback (most recent call last):
  File \"/opt/spark/work-dir/wc.py\", line 30, in <module>
    counts = words.map(shout).collect()
  File \"/opt/spark/python/lib/pyspark.zip/pyspark/rdd.py\", line 1833, in collect
    sock_info = self.ctx._jvm.PythonRDD.collectAndServe(self._jrdd.rdd())
  File \"/opt/spark/python/lib/py4j-0.10.9.7-src.zip/py4j/protocol.py\", line 326, in get_return_value
    raise Py4JJavaError(
py4j.protocol.Py4JJavaError: An error occurred while calling z:org.apache.spark.api.python.PythonRDD.collectAndServe.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 0.0 failed 1 times, most recent failure: Lost task 0.0 (TID 0) (10.1.0.5 executor 1): org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File \"/opt/spark/python/lib/pyspark.zip/pyspark/worker.py\", line 1247, in main
    process()
  File \"/opt/spark/work-dir/wc.py\", line 12, in shout
    raise ValueError(f\"bad word {w!r}\")
ValueError: bad word 'x'

\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2898)
";
        let cause = python_cause(log).expect("a cause");
        let lines: Vec<&str> = cause.lines().collect();
        assert_eq!(lines[0], "ValueError: bad word 'x'");
        assert_eq!(lines[1], "  File \"/opt/spark/work-dir/wc.py\", line 12, in shout");
        assert_eq!(lines[2], "    raise ValueError(f\"bad word {w!r}\")");
        assert_eq!(lines[3], "in the driver:");
        assert_eq!(lines[4], "  File \"/opt/spark/work-dir/wc.py\", line 30, in <module>");
        assert!(!cause.contains("py4j") && !cause.contains("pyspark.zip"), "{cause}");
    }

    #[test]
    fn a_lone_wrapper_is_still_reported() {
        let log = "Traceback (most recent call last):\n  File \"/w/a.py\", line 3, in <module>\n    x()\npy4j.protocol.Py4JJavaError: An error occurred\n";
        assert_eq!(
            python_cause(log).as_deref(),
            Some("py4j.protocol.Py4JJavaError: An error occurred\n  File \"/w/a.py\", line 3, in <module>\n    x()")
        );
    }
}
