//! The resource contract: one module per resource implements [`Resource`], with its schema,
//! cross-attribute validation, plan logic and CRUD together.

use async_trait::async_trait;

use crate::config::ProviderConfig;
use crate::core::{AttrPath, Block, Diagnostics, Nesting, Schema, Value};

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
            let mut planned = block.plan(proposed, None, false);
            null_absent_single_blocks(block, config, &mut planned);
            return Plan { planned, requires_replace: Vec::new() };
        }
        let mut kept = block.plan(proposed, Some(prior), false);
        block.restore_defaults(config, &mut kept);
        null_absent_single_blocks(block, config, &mut kept);
        let mut requires_replace = Vec::new();
        block.replace_paths(prior, &kept, &AttrPath::root(), &mut requires_replace);
        if requires_replace.is_empty() {
            Plan { planned: kept, requires_replace }
        } else {
            Plan { planned: block.plan(config, None, true), requires_replace }
        }
    }

    /// Checks a planned create (or replacement) against the remote side, e.g. that it fits
    /// a quota, so `terraform plan` refuses what apply would refuse. `planned` is the plan's new
    /// state; unknown values cannot be judged. The default checks nothing.
    async fn check_plan(&self, _ctx: &OpContext, _planned: &Value) -> Diagnostics {
        Diagnostics::new()
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

/// A single nested block the configuration leaves out is planned as absent (null). Terraform 1.0
/// proposes such a block as an object of nulls once it existed in the prior state, then refuses
/// its own proposal ("planned for existence but config wants absence"); 1.15 proposes null.
fn null_absent_single_blocks(block: &Block, config: &Value, planned: &mut Value) {
    if config.is_unknown() || config.is_null() {
        return;
    }
    if let Some(out) = planned.attrs_mut() {
        for b in block.blocks.iter().filter(|b| b.nesting == Nesting::Single) {
            if config.attr(&b.name).is_null() {
                out.insert(b.name.clone(), Value::Null);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Attribute, NestedBlock, Type};

    struct WithQuota(Schema);

    #[async_trait]
    impl Resource for WithQuota {
        fn type_name(&self) -> &'static str {
            "with_quota"
        }
        fn schema(&self) -> &Schema {
            &self.0
        }
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn a_single_block_left_out_of_the_config_is_planned_absent() {
        let block = Block::new("r")
            .attr(Attribute::required("name", Type::String, "n"))
            .block(NestedBlock::single("quota", Block::new("q").attr(Attribute::optional("cpu", Type::String, "c"))));
        let r = WithQuota(Schema { version: 0, block });
        let prior = obj(vec![("name", Value::string("a")), ("quota", obj(vec![("cpu", Value::string("8"))]))]);
        let config = obj(vec![("name", Value::string("a")), ("quota", Value::Null)]);
        // Terraform 1.0's proposal keeps the block as an object of nulls.
        let proposed = obj(vec![("name", Value::string("a")), ("quota", obj(vec![("cpu", Value::Null)]))]);
        let plan = r.plan(&prior, &proposed, &config);
        assert_eq!(plan.planned.attr("quota"), &Value::Null, "{:?}", plan.planned);
        assert!(plan.requires_replace.is_empty());
        // On create too.
        let plan = r.plan(&Value::Null, &proposed, &config);
        assert_eq!(plan.planned.attr("quota"), &Value::Null, "{:?}", plan.planned);
        // A block in the config stays.
        let config = obj(vec![("name", Value::string("a")), ("quota", obj(vec![("cpu", Value::string("4"))]))]);
        let proposed = config.clone();
        let plan = r.plan(&prior, &proposed, &config);
        assert_eq!(plan.planned.attr("quota").attr("cpu"), &Value::string("4"));
    }
}
