//! A PySpark job's `py_files` on OSS: the pre-flight HEAD of each (nothing is created when one
//! is missing), their ETags in `py_files_etags`, and the refresh that marks a replaced one, so the
//! next plan re-runs the job as it does for a replaced main application.

use super::Job;
use crate::core::{AttrPath, Diagnostics, Value};
use crate::resource::OpContext;

impl Job {
    /// The ETag of each `oss://` entry of `py_files`, in order (`""` for the other URI forms,
    /// and for all when the provider has no OSS credentials).
    pub(super) async fn preflight_py_files(&self, ctx: &OpContext, py_files: &[String]) -> Result<Vec<String>, Diagnostics> {
        let mut etags = Vec::with_capacity(py_files.len());
        for (i, uri) in py_files.iter().enumerate() {
            let fail = |summary: &str, detail: String| {
                let mut d = Diagnostics::new();
                d.attr_error(&AttrPath::root().attr("py_files").index(i), summary, format!("py_files[{i}]: {detail}"));
                d
            };
            let etag = match (sparkoss_aliyun::oss_uri::OssUri::parse(uri), self.jar_probe(ctx)) {
                // A fresh answer, never a remembered one: this decides what is created.
                (Ok(parsed), Some(probe)) => match probe.etag(parsed.bucket(), parsed.key()).await {
                    Ok(Some(etag)) => etag,
                    Ok(None) => return Err(fail("Python file not found", format!("{uri} does not exist on OSS. Nothing was created."))),
                    Err(reason) => return Err(fail("Cannot check a Python file", format!("HEAD {uri}: {reason}"))),
                },
                _ => String::new(),
            };
            etags.push(etag);
        }
        Ok(etags)
    }

    /// A Python file replaced (or deleted) on OSS since the run re-runs the job: its `py_files`
    /// entry in the state then records the change, which differs from the configuration and so
    /// plans a replacement, with the reason in the diff.
    pub(super) async fn mark_changed_py_files(&self, ctx: &OpContext, state: &mut Value) {
        let uris: Vec<Option<String>> =
            state.attr("py_files").elements().unwrap_or_default().iter().map(|v| v.as_str().map(str::to_owned)).collect();
        let old: Vec<Option<String>> =
            state.attr("py_files_etags").elements().unwrap_or_default().iter().map(|v| v.as_str().map(str::to_owned)).collect();
        if uris.is_empty() || old.len() != uris.len() {
            return;
        }
        let Some(probe) = self.jar_probe(ctx) else { return };
        let mut marked = Vec::new();
        for (i, (uri, old)) in uris.iter().zip(&old).enumerate() {
            let (Some(uri), Some(old)) = (uri, old.as_deref().filter(|e| !e.is_empty())) else { continue };
            let Ok(parsed) = sparkoss_aliyun::oss_uri::OssUri::parse(uri) else { continue };
            let now = match self.refresh_etag(&probe, parsed.bucket(), parsed.key()).await {
                Ok(Some(e)) if e == old => continue,
                Ok(Some(e)) => format!("ETag {e}"),
                Ok(None) => "deleted".to_owned(),
                // Unreachable OSS says nothing about the file; keep the state as it is.
                Err(_) => continue,
            };
            marked.push((i, format!("{uri} (changed on OSS since the run: ETag {old} -> {now})")));
        }
        if marked.is_empty() {
            return;
        }
        if let Some(Value::List(items)) = state.attrs_mut().and_then(|m| m.get_mut("py_files")) {
            for (i, text) in marked {
                if let Some(item) = items.get_mut(i) {
                    *item = Value::string(text);
                }
            }
        }
    }
}
