//! Reading a failed Spark driver's log for what a person needs first: the exception that ended
//! the job and its `Caused by` chain, rather than the last stack frames.

/// Longest root-cause text kept (an exception message can carry a whole document).
const MAX_CAUSE: usize = 4000;

/// True for a line that starts a Java exception: `java.io.IOException: ...`,
/// `org.apache.spark.SparkException: ...`, `Exception in thread "main" ...`.
fn is_exception_header(line: &str) -> bool {
    let l = line.trim();
    if l.starts_with("Exception in thread ") {
        return true;
    }
    let head = l.split([':', ' ']).next().unwrap_or("");
    let class = head.rsplit('.').next().unwrap_or("");
    head.contains('.')
        && !head.starts_with("at")
        && head.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '$' || c == '_')
        && (class.ends_with("Exception") || class.ends_with("Error") || class.ends_with("Throwable"))
}

fn is_stack_line(line: &str) -> bool {
    let l = line.trim_start();
    l.starts_with("at ") || l.starts_with("... ") || l.starts_with("Suppressed: ") || l.starts_with("Caused by: ")
}

/// The root cause in a driver log: the last exception that starts a stack trace, and the
/// `Caused by:` lines of that trace, one line each. `None` when the log holds no exception.
pub fn root_cause(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    // A log4j line ("... ERROR SparkContext: Error initializing SparkContext.") can precede the
    // exception; the exception line itself is what names the failure.
    let start = lines.iter().rposition(|l| is_exception_header(l) && !l.trim_start().starts_with("Caused by: "))?;
    let mut out = vec![lines[start].trim().to_owned()];
    for l in &lines[start + 1..] {
        if !is_stack_line(l) {
            break;
        }
        if let Some(cause) = l.trim_start().strip_prefix("Caused by: ") {
            out.push(format!("Caused by: {cause}"));
        }
    }
    let mut text = out.join("\n");
    if text.len() > MAX_CAUSE {
        let mut cut = MAX_CAUSE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    Some(text)
}

/// The last `n` lines of a log.
pub fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exception_and_its_causes_lead() {
        let log = "\
26/11/27 12:00:01 INFO SparkContext: Running Spark version 3.5.3
26/11/27 12:00:05 ERROR SparkContext: Error initializing SparkContext.
org.apache.spark.SparkException: External scheduler cannot be instantiated
\tat org.apache.spark.SparkContext$.createTaskScheduler(SparkContext.scala:3204)
\tat org.apache.spark.SparkContext.<init>(SparkContext.scala:577)
Caused by: io.fabric8.kubernetes.client.KubernetesClientException: Failure executing: GET at: https://kubernetes.default.svc/api/v1/namespaces/team/pods/etl-driver. Message: Forbidden.
\tat io.fabric8.kubernetes.client.dsl.internal.OperationSupport.requestFailure(OperationSupport.java:671)
\t... 20 more
Caused by: java.net.UnknownHostException: kubernetes.default.svc
\tat java.base/java.net.InetAddress.getAllByName0(InetAddress.java:1560)
\t... 31 more
26/11/27 12:00:05 INFO SparkContext: Successfully stopped SparkContext
";
        assert_eq!(
            root_cause(log).as_deref(),
            Some(
                "org.apache.spark.SparkException: External scheduler cannot be instantiated\n\
                 Caused by: io.fabric8.kubernetes.client.KubernetesClientException: Failure executing: GET at: https://kubernetes.default.svc/api/v1/namespaces/team/pods/etl-driver. Message: Forbidden.\n\
                 Caused by: java.net.UnknownHostException: kubernetes.default.svc"
            )
        );
        let main = "starting\nException in thread \"main\" java.lang.IllegalStateException: input missing\n\tat App.main(App.java:3)\n";
        assert_eq!(root_cause(main).as_deref(), Some("Exception in thread \"main\" java.lang.IllegalStateException: input missing"));
        assert_eq!(root_cause("all fine\nat the end\n"), None);
        assert_eq!(root_cause("WARN a.b.c: retrying\n"), None, "a logger name is not an exception");
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
    }
}
