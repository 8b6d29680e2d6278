//! The protocol-free provider: what each Terraform RPC means, on core types.
//!
//! The gRPC layer (`grpc`) decodes requests, calls these methods and encodes the answers;
//! everything worth testing lives here and is tested without a network.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use crate::config::{self, ProviderConfig};
use crate::core::{AttrPath, Diagnostics, Schema, Value};
use crate::resource::{OpContext, Plan, Resource};

/// Reads an environment variable (injected so tests need not touch the process environment).
pub type EnvReader = Box<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The provider's state across RPCs.
pub struct Provider {
    resources: HashMap<&'static str, Arc<dyn Resource>>,
    provider_schema: Schema,
    config: RwLock<Option<Arc<ProviderConfig>>>,
    env: EnvReader,
    stop_tx: watch::Sender<u64>,
}

/// The diagnostic of an operation interrupted by `StopProvider`.
fn cancelled(what: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error("Operation cancelled", format!("{what} was interrupted because Terraform asked the provider to stop"));
    d
}

/// What an apply produced: the new state (null after a delete) and diagnostics. On error the
/// new state is what exists remotely, so Terraform records partial progress instead of losing it.
#[derive(Debug)]
pub struct Applied {
    /// New state.
    pub state: Value,
    /// Diagnostics.
    pub diags: Diagnostics,
}

impl Provider {
    /// A provider serving `resources`, reading the environment through `env`.
    pub fn new(resources: Vec<Arc<dyn Resource>>, env: EnvReader) -> Self {
        let (stop_tx, _) = watch::channel(0);
        Provider {
            resources: resources.into_iter().map(|r| (r.type_name(), r)).collect(),
            provider_schema: config::schema(),
            config: RwLock::new(None),
            env,
            stop_tx,
        }
    }

    /// The provider with every resource type, reading the process environment.
    pub fn standard() -> Self {
        Self::new(crate::resources::all(), Box::new(|k| std::env::var(k).ok()))
    }

    /// The provider block's schema.
    pub fn provider_schema(&self) -> &Schema {
        &self.provider_schema
    }

    /// Resource types and their schemas, sorted by name.
    pub fn resource_schemas(&self) -> Vec<(&'static str, &Schema)> {
        let mut v: Vec<_> = self.resources.iter().map(|(n, r)| (*n, r.schema())).collect();
        v.sort_by_key(|(n, _)| *n);
        v
    }

    /// A resource type by name.
    pub fn resource(&self, type_name: &str) -> Result<&Arc<dyn Resource>, Diagnostics> {
        self.resources.get(type_name).ok_or_else(|| {
            let mut d = Diagnostics::new();
            d.error("Unknown resource type", format!("this provider has no resource type {type_name:?}"));
            d
        })
    }

    /// `ValidateProviderConfig`.
    pub fn validate_provider_config(&self, config: &Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        self.provider_schema.block.validate(config, &AttrPath::root(), &mut d);
        config::validate(config, &mut d);
        d
    }

    /// `ConfigureProvider`: resolves and keeps the configuration.
    pub fn configure(&self, config: &Value) -> Diagnostics {
        let mut d = self.validate_provider_config(config);
        if d.has_errors() {
            return d;
        }
        match config::resolve(config, &*self.env) {
            Ok(c) => {
                if let Ok(mut slot) = self.config.write() {
                    *slot = Some(Arc::new(c));
                }
            }
            Err(e) => d.extend(e),
        }
        d
    }

    fn context(&self) -> OpContext {
        let config = self.config.read().ok().and_then(|c| c.clone()).unwrap_or_default();
        OpContext { config }
    }

    /// `ValidateResourceConfig`: attribute validators, then the resource's own checks.
    pub fn validate_resource(&self, type_name: &str, config: &Value) -> Diagnostics {
        let r = match self.resource(type_name) {
            Ok(r) => r,
            Err(d) => return d,
        };
        let mut d = Diagnostics::new();
        r.schema().block.validate(config, &AttrPath::root(), &mut d);
        r.validate(config, &mut d);
        d
    }

    /// `UpgradeResourceState`: reads the stored JSON state into the current schema's shape.
    pub fn upgrade_state(&self, type_name: &str, version: i64, json: &[u8]) -> Result<Value, Diagnostics> {
        let r = self.resource(type_name)?;
        let schema = r.schema();
        let mut d = Diagnostics::new();
        if version > schema.version {
            d.error(
                "State from a newer provider",
                format!(
                    "{type_name} state has schema version {version}, but this provider knows up to {}; upgrade the provider",
                    schema.version
                ),
            );
            return Err(d);
        }
        let raw: serde_json::Value = match serde_json::from_slice(json) {
            Ok(j) => j,
            Err(e) => {
                d.error("Corrupt state", format!("{type_name} state is not JSON: {e}"));
                return Err(d);
            }
        };
        Value::from_json(&raw, &schema.block.implied_type()).map_err(|e| {
            d.error("Corrupt state", format!("{type_name} state does not fit the schema: {e}"));
            d
        })
    }

    /// `PlanResourceChange`.
    pub fn plan(&self, type_name: &str, prior: &Value, proposed: &Value, config: &Value) -> Result<Plan, Diagnostics> {
        let r = self.resource(type_name)?;
        Ok(r.plan(prior, proposed, config))
    }

    /// `PlanResourceChange` with the resource's remote checks: [`Provider::plan`], then, for a
    /// create or replacement, [`Resource::check_plan`]; its errors refuse the plan.
    pub async fn plan_change(&self, type_name: &str, prior: &Value, proposed: &Value, config: &Value) -> Result<Plan, Diagnostics> {
        let plan = self.plan(type_name, prior, proposed, config)?;
        let creates = !plan.planned.is_null() && (prior.is_null() || !plan.requires_replace.is_empty());
        if creates {
            let r = self.resource(type_name)?.clone();
            let d = self
                .cancellable(&format!("planning {type_name}"), async { Ok(r.check_plan(&self.context(), &plan.planned).await) })
                .await?;
            if d.has_errors() {
                return Err(d);
            }
        }
        Ok(plan)
    }

    /// A receiver that changes when `StopProvider` is called.
    fn stop_signal(&self) -> watch::Receiver<u64> {
        self.stop_tx.subscribe()
    }

    /// Runs `op` unless `StopProvider` is called first.
    async fn cancellable<T>(&self, what: &str, op: impl std::future::Future<Output = Result<T, Diagnostics>>) -> Result<T, Diagnostics> {
        let mut stop = self.stop_signal();
        tokio::select! {
            r = op => r,
            _ = stop.changed() => Err(cancelled(what)),
        }
    }

    /// `ApplyResourceChange`: create, update or delete.
    pub async fn apply(&self, type_name: &str, prior: &Value, planned: &Value) -> Applied {
        let r = match self.resource(type_name) {
            Ok(r) => r.clone(),
            Err(diags) => return Applied { state: prior.clone(), diags },
        };
        let ctx = self.context();
        if planned.is_null() {
            return match self.cancellable(&format!("deleting {type_name}"), r.delete(&ctx, prior)).await {
                Ok(()) => Applied { state: Value::Null, diags: Diagnostics::new() },
                Err(diags) => Applied { state: prior.clone(), diags },
            };
        }
        if prior.is_null() {
            // Not `cancellable`: a failed create may carry partial state worth recording.
            let mut stop = self.stop_signal();
            return tokio::select! {
                r = r.create_or_partial(&ctx, planned) => match r {
                    Ok(state) => Applied { state, diags: Diagnostics::new() },
                    Err(f) => Applied { state: f.state, diags: f.diags },
                },
                _ = stop.changed() => Applied { state: Value::Null, diags: cancelled(&format!("creating {type_name}")) },
            };
        }
        match self.cancellable(&format!("updating {type_name}"), r.update(&ctx, prior, planned)).await {
            Ok(state) => Applied { state, diags: Diagnostics::new() },
            Err(diags) => Applied { state: prior.clone(), diags },
        }
    }

    /// `ReadResource`: `Ok(None)` when the object is gone.
    pub async fn read(&self, type_name: &str, state: &Value) -> Result<Option<Value>, Diagnostics> {
        let r = self.resource(type_name)?.clone();
        let ctx = self.context();
        self.cancellable(&format!("reading {type_name}"), r.read(&ctx, state)).await
    }

    /// `ImportResourceState`.
    pub async fn import(&self, type_name: &str, id: &str) -> Result<Value, Diagnostics> {
        let r = self.resource(type_name)?.clone();
        let ctx = self.context();
        self.cancellable(&format!("importing {type_name} {id:?}"), r.import(&ctx, id)).await
    }

    /// `StopProvider`: interrupts every operation in flight.
    pub fn stop(&self) {
        self.stop_tx.send_modify(|n| *n += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::msgpack;
    use async_trait::async_trait;

    struct Slow(Schema);

    #[async_trait]
    impl Resource for Slow {
        fn type_name(&self) -> &'static str {
            "test_slow"
        }
        fn schema(&self) -> &Schema {
            &self.0
        }
        async fn create(&self, _ctx: &OpContext, _planned: &Value) -> Result<Value, Diagnostics> {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok(Value::Null)
        }
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[tokio::test]
    async fn stop_cancels_in_flight_operations() {
        let schema = Schema { version: 0, block: crate::core::Block::new("t") };
        let p = Arc::new(Provider::new(vec![Arc::new(Slow(schema))], Box::new(|_| None)));
        let p2 = p.clone();
        let task = tokio::spawn(async move { p2.apply("test_slow", &Value::Null, &obj(vec![])).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        p.stop();
        let applied = task.await.expect("task joins");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(applied.diags.has_errors());
        assert_eq!(applied.diags.0[0].summary, "Operation cancelled");
        assert!(applied.state.is_null());
    }

    #[test]
    fn every_schema_encodes_a_planned_create() {
        // A plan of an all-null config must encode under its own schema: catches type and
        // default mistakes in any resource's schema.
        let p = Provider::standard();
        for (name, schema) in p.resource_schemas() {
            let ty = schema.block.implied_type();
            let null_cfg = match &ty {
                crate::core::Type::Object { attrs, .. } => Value::Object(attrs.keys().map(|k| (k.clone(), Value::Null)).collect()),
                _ => unreachable!(),
            };
            let plan = p.plan(name, &Value::Null, &null_cfg, &null_cfg).expect("plans");
            let bytes = msgpack::encode(&plan.planned, &ty).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(msgpack::decode(&bytes, &ty).expect("decodes"), plan.planned);
        }
    }

    #[test]
    fn unknown_resource_types_are_diagnosed() {
        let p = Provider::standard();
        let d = p.validate_resource("sparkoss_nope", &Value::Null);
        assert!(d.has_errors());
    }

    #[test]
    fn upgrade_rejects_newer_state_and_reads_json() {
        let p = Provider::standard();
        assert!(p.upgrade_state("sparkoss_namespace", 9, b"{}").is_err());
        let v = p.upgrade_state("sparkoss_namespace", 0, br#"{"id":"team-a","name":"team-a","gone":1}"#).expect("upgrades");
        assert_eq!(v.attr("name"), &Value::string("team-a"));
        assert!(v.attr("quota").is_null());
    }
}
