//! The resource contract: one module per resource implements [`Resource`], with its schema,
//! cross-attribute validation, plan logic and CRUD together.

use async_trait::async_trait;

use crate::config::ProviderConfig;
use crate::core::{AttrPath, Diagnostics, Schema, Value};

/// What an operation needs from the provider: its resolved configuration.
#[derive(Debug, Clone)]
pub struct OpContext {
    /// The resolved provider configuration.
    pub config: std::sync::Arc<ProviderConfig>,
}

/// The outcome of planning a change.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The planned new state (unknown where the provider decides at apply).
    pub planned: Value,
    /// Attributes whose change forces replacement.
    pub requires_replace: Vec<AttrPath>,
}

/// A create that failed after something was made remotely: Terraform records `state` (when
/// not null) as a tainted resource, so `terraform destroy` removes it and the next apply
/// replaces it instead of losing track of it.
#[derive(Debug)]
pub struct CreateFailure {
    /// What exists remotely (null when nothing does).
    pub state: Value,
    /// Why the create failed.
    pub diags: Diagnostics,
}

/// A managed resource type.
#[async_trait]
pub trait Resource: Send + Sync {
    /// The resource type name, e.g. `sparkoss_cluster`.
    fn type_name(&self) -> &'static str;

    /// The schema (built once by the resource).
    fn schema(&self) -> &Schema;

    /// Checks that span several attributes (attribute validators already ran).
    fn validate(&self, _config: &Value, _diags: &mut Diagnostics) {}

    /// Plans a create or update. `proposed` is Terraform's merge of the configuration with the
    /// prior state (computed values carried over); `config` is the configuration alone. The
    /// default fills defaults and unknowns from the schema and replaces the resource when a
    /// force-new attribute changes, planning the replacement from the configuration alone so
    /// every computed value becomes unknown again.
    fn plan(&self, prior: &Value, proposed: &Value, config: &Value) -> Plan {
        let block = &self.schema().block;
        if proposed.is_null() {
            return Plan { planned: Value::Null, requires_replace: Vec::new() };
        }
        if prior.is_null() {
            return Plan { planned: block.plan(proposed, None, false), requires_replace: Vec::new() };
        }
        let mut kept = block.plan(proposed, Some(prior), false);
        block.restore_defaults(config, &mut kept);
        let mut requires_replace = Vec::new();
        block.replace_paths(prior, &kept, &AttrPath::root(), &mut requires_replace);
        if requires_replace.is_empty() {
            Plan { planned: kept, requires_replace }
        } else {
            Plan { planned: block.plan(config, None, true), requires_replace }
        }
    }

    /// Creates the remote object; returns the new state.
    async fn create(&self, _ctx: &OpContext, _planned: &Value) -> Result<Value, Diagnostics> {
        Err(not_available(self.type_name(), "create"))
    }

    /// Creates the remote object, reporting partial progress when it fails half-way. The
    /// default calls [`Resource::create`] and reports that nothing was left behind; resources
    /// whose create can fail after the remote object exists override this.
    async fn create_or_partial(&self, ctx: &OpContext, planned: &Value) -> Result<Value, CreateFailure> {
        self.create(ctx, planned).await.map_err(|diags| CreateFailure { state: Value::Null, diags })
    }

    /// Reads the remote object; `None` when it is gone (Terraform then plans a create).
    async fn read(&self, _ctx: &OpContext, _state: &Value) -> Result<Option<Value>, Diagnostics> {
        Err(not_available(self.type_name(), "read"))
    }

    /// Updates the remote object in place; returns the new state.
    async fn update(&self, _ctx: &OpContext, _prior: &Value, _planned: &Value) -> Result<Value, Diagnostics> {
        Err(not_available(self.type_name(), "update"))
    }

    /// Deletes the remote object; succeeds when it is already gone.
    async fn delete(&self, _ctx: &OpContext, _state: &Value) -> Result<(), Diagnostics> {
        Err(not_available(self.type_name(), "delete"))
    }

    /// Imports an existing object by id, filling the whole state.
    async fn import(&self, _ctx: &OpContext, _id: &str) -> Result<Value, Diagnostics> {
        Err(not_available(self.type_name(), "import"))
    }
}

/// The error for an operation this build of the provider does not carry yet.
pub fn not_available(type_name: &str, op: &str) -> Diagnostics {
    let mut d = Diagnostics::new();
    d.error(
        format!("{type_name}: {op} is not available in this provider version"),
        format!(
            "terraform-provider-sparkoss {} validates and plans {type_name} but cannot {op} it yet; \
             nothing was changed.",
            env!("CARGO_PKG_VERSION")
        ),
    );
    d
}
