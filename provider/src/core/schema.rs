//! Schemas: attributes and nested blocks, with their descriptions, flags and validators, and the
//! generic config validation and plan logic that follows from them.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::diag::{AttrPath, Diagnostics};
use super::types::Type;
use super::value::Value;

/// Checks one known, non-null value; reports problems at `path`.
pub type Check = dyn Fn(&Value, &AttrPath, &mut Diagnostics) + Send + Sync;

/// A validator attached to an attribute. Never called with a null or unknown value: unknown
/// values are checked again at apply, when they are known.
#[derive(Clone)]
pub struct Validator {
    /// What the validator accepts, in words (shown in docs).
    pub description: String,
    /// The check itself.
    pub check: Arc<Check>,
}

impl fmt::Debug for Validator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Validator({})", self.description)
    }
}

/// One attribute of a block.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Value type.
    pub ty: Type,
    /// Markdown description (shown by `terraform providers schema` and in docs).
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// Set by the provider (alone, or when not configured).
    pub computed: bool,
    /// Hidden in plan output and logs.
    pub sensitive: bool,
    /// A change forces replacement of the resource.
    pub force_new: bool,
    /// Value planned when the configuration leaves the attribute null (optional + computed).
    pub default: Option<Value>,
    /// Validators run on known values.
    pub validators: Vec<Validator>,
}

impl Attribute {
    fn new(name: &str, ty: Type, description: &str) -> Self {
        Attribute {
            name: name.to_owned(),
            ty,
            description: description.to_owned(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            force_new: false,
            default: None,
            validators: Vec::new(),
        }
    }
    /// A required attribute.
    pub fn required(name: &str, ty: Type, description: &str) -> Self {
        Attribute { required: true, ..Self::new(name, ty, description) }
    }
    /// An optional attribute.
    pub fn optional(name: &str, ty: Type, description: &str) -> Self {
        Attribute { optional: true, ..Self::new(name, ty, description) }
    }
    /// A computed (read-only) attribute.
    pub fn computed(name: &str, ty: Type, description: &str) -> Self {
        Attribute { computed: true, ..Self::new(name, ty, description) }
    }
    /// An optional attribute with a default, planned when the configuration leaves it null.
    pub fn with_default(name: &str, ty: Type, default: Value, description: &str) -> Self {
        Attribute { optional: true, computed: true, default: Some(default), ..Self::new(name, ty, description) }
    }
    /// Marks the attribute sensitive.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }
    /// Marks the attribute as forcing replacement when it changes.
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
    /// Makes an optional attribute optional + computed (the provider fills it when unset).
    pub fn also_computed(mut self) -> Self {
        self.computed = true;
        self
    }
    /// Adds a validator.
    pub fn validate(mut self, v: Validator) -> Self {
        self.validators.push(v);
        self
    }
}

/// How a nested block repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// At most one; an object, null when absent.
    Single,
    /// Like single but never null: an absent block is an object of nulls.
    Group,
    /// An ordered list of blocks.
    List,
    /// An unordered set of blocks.
    Set,
    /// Blocks keyed by a label.
    Map,
}

/// A nested block type.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    /// Block type name.
    pub name: String,
    /// Repetition.
    pub nesting: Nesting,
    /// The block's own content.
    pub block: Block,
    /// Fewest blocks allowed (list/set).
    pub min_items: i64,
    /// Most blocks allowed (list/set); 0 means no limit.
    pub max_items: i64,
    /// A change forces replacement.
    pub force_new: bool,
}

impl NestedBlock {
    /// A single (optional) nested block.
    pub fn single(name: &str, block: Block) -> Self {
        NestedBlock { name: name.to_owned(), nesting: Nesting::Single, block, min_items: 0, max_items: 0, force_new: false }
    }
    /// A list of nested blocks.
    pub fn list(name: &str, block: Block, min_items: i64, max_items: i64) -> Self {
        NestedBlock { name: name.to_owned(), nesting: Nesting::List, block, min_items, max_items, force_new: false }
    }
    /// Marks the block as forcing replacement when it changes.
    pub fn force_new(mut self) -> Self {
        self.force_new = true;
        self
    }
}

/// A block: attributes and nested blocks.
#[derive(Debug, Clone, Default)]
pub struct Block {
    /// Markdown description.
    pub description: String,
    /// Attributes.
    pub attributes: Vec<Attribute>,
    /// Nested block types.
    pub blocks: Vec<NestedBlock>,
    /// Deprecated block.
    pub deprecated: bool,
}

impl Block {
    /// A block with a description.
    pub fn new(description: &str) -> Self {
        Block { description: description.to_owned(), ..Default::default() }
    }
    /// Adds an attribute.
    pub fn attr(mut self, a: Attribute) -> Self {
        self.attributes.push(a);
        self
    }
    /// Adds a nested block.
    pub fn block(mut self, b: NestedBlock) -> Self {
        self.blocks.push(b);
        self
    }

    /// The object type of a value of this block.
    pub fn implied_type(&self) -> Type {
        let mut attrs: BTreeMap<String, Type> = self.attributes.iter().map(|a| (a.name.clone(), a.ty.clone())).collect();
        for b in &self.blocks {
            let inner = b.block.implied_type();
            let t = match b.nesting {
                Nesting::Single | Nesting::Group => inner,
                Nesting::List => Type::list(inner),
                Nesting::Set => Type::set(inner),
                Nesting::Map => Type::map(inner),
            };
            attrs.insert(b.name.clone(), t);
        }
        Type::object(attrs)
    }

    /// Looks up an attribute by name.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Runs every attribute validator and the block count limits over a configuration value.
    pub fn validate(&self, config: &Value, path: &AttrPath, diags: &mut Diagnostics) {
        if config.is_unknown() || config.is_null() {
            return;
        }
        for a in &self.attributes {
            let v = config.attr(&a.name);
            let p = path.attr(&a.name);
            if a.computed && !a.optional && !a.required && !v.is_null() {
                diags.attr_error(&p, "Read-only attribute", "this attribute is set by the provider and cannot be configured");
                continue;
            }
            if v.is_null() || v.is_unknown() {
                continue;
            }
            for val in &a.validators {
                (val.check)(v, &p, diags);
            }
        }
        for b in &self.blocks {
            let v = config.attr(&b.name);
            let p = path.attr(&b.name);
            match b.nesting {
                Nesting::Single | Nesting::Group => b.block.validate(v, &p, diags),
                Nesting::List | Nesting::Set => {
                    if let Some(items) = v.elements() {
                        let n = i64::try_from(items.len()).unwrap_or(i64::MAX);
                        if n < b.min_items {
                            diags.attr_error(
                                &p,
                                "Missing block",
                                format!("at least {} `{}` block(s) required, found {n}", b.min_items, b.name),
                            );
                        }
                        if b.max_items > 0 && n > b.max_items {
                            diags.attr_error(
                                &p,
                                "Too many blocks",
                                format!("at most {} `{}` block(s) allowed, found {n}", b.max_items, b.name),
                            );
                        }
                        for (i, item) in items.iter().enumerate() {
                            b.block.validate(item, &p.index(i), diags);
                        }
                    }
                }
                Nesting::Map => {
                    if let Some(m) = v.entries() {
                        for (k, item) in m {
                            b.block.validate(item, &p.key(k), diags);
                        }
                    }
                }
            }
        }
    }

    /// Plans a new object from configuration: computed attributes left null become unknown (or
    /// their default), and, when a prior state exists, keep their prior value unless the
    /// resource is being replaced.
    pub fn plan(&self, config: &Value, prior: Option<&Value>, replacing: bool) -> Value {
        if config.is_null() || config.is_unknown() {
            return config.clone();
        }
        let mut out = config.entries().cloned().unwrap_or_default();
        for a in &self.attributes {
            let cv = config.attr(&a.name);
            if !cv.is_null() || !a.computed {
                continue;
            }
            let planned = match (&a.default, prior) {
                (Some(d), _) => d.clone(),
                (None, Some(p)) if !replacing => p.attr(&a.name).clone(),
                (None, _) => Value::Unknown,
            };
            out.insert(a.name.clone(), planned);
        }
        for b in &self.blocks {
            let cv = config.attr(&b.name);
            let pv = prior.map(|p| p.attr(&b.name));
            let planned = match b.nesting {
                Nesting::Single | Nesting::Group => b.block.plan(cv, pv.filter(|p| !p.is_null()), replacing),
                Nesting::List | Nesting::Set => match cv.elements() {
                    Some(items) => {
                        let prior_items = pv.and_then(Value::elements).unwrap_or(&[]);
                        let planned: Vec<Value> =
                            items.iter().enumerate().map(|(i, item)| b.block.plan(item, prior_items.get(i), replacing)).collect();
                        if b.nesting == Nesting::Set {
                            Value::Set(planned)
                        } else {
                            Value::List(planned)
                        }
                    }
                    None => cv.clone(),
                },
                Nesting::Map => cv.clone(),
            };
            out.insert(b.name.clone(), planned);
        }
        Value::Object(out)
    }

    /// Puts defaults back where the configuration leaves an attribute null.
    ///
    /// Terraform proposes the prior value for an optional+computed attribute that is absent
    /// from the configuration, so removing an attribute that has a default would otherwise plan
    /// no change instead of going back to the default.
    pub fn restore_defaults(&self, config: &Value, planned: &mut Value) {
        let Some(out) = planned.attrs_mut() else { return };
        for a in &self.attributes {
            if let Some(d) = &a.default {
                if config.attr(&a.name).is_null() {
                    out.insert(a.name.clone(), d.clone());
                }
            }
        }
        for b in &self.blocks {
            let cfg = config.attr(&b.name);
            match out.get_mut(&b.name) {
                Some(Value::List(items)) | Some(Value::Set(items)) => {
                    for (i, item) in items.iter_mut().enumerate() {
                        if let Some(c) = cfg.elements().and_then(|e| e.get(i)) {
                            b.block.restore_defaults(c, item);
                        }
                    }
                }
                Some(v @ Value::Object(_)) => b.block.restore_defaults(cfg, v),
                _ => {}
            }
        }
    }

    /// A value with the attributes the provider computes (and the user cannot set) removed, for
    /// comparing what the user configured.
    fn configured_part(&self, v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = BTreeMap::new();
                for (k, val) in m {
                    if let Some(a) = self.attribute(k) {
                        if a.computed && !a.optional {
                            continue;
                        }
                        out.insert(k.clone(), val.clone());
                    } else if let Some(b) = self.blocks.iter().find(|b| &b.name == k) {
                        out.insert(k.clone(), b.block.configured_part(val));
                    }
                }
                Value::Object(out)
            }
            Value::List(items) => Value::List(items.iter().map(|i| self.configured_part(i)).collect()),
            Value::Set(items) => Value::Set(items.iter().map(|i| self.configured_part(i)).collect()),
            other => other.clone(),
        }
    }

    /// Paths of force-new attributes and blocks whose planned value (see [`Block::plan`]) differs
    /// from the prior state.
    pub fn replace_paths(&self, prior: &Value, config: &Value, path: &AttrPath, out: &mut Vec<AttrPath>) {
        for a in &self.attributes {
            if !a.force_new {
                continue;
            }
            if prior.attr(&a.name) != config.attr(&a.name) {
                out.push(path.attr(&a.name));
            }
        }
        for b in &self.blocks {
            let (p, c) = (prior.attr(&b.name), config.attr(&b.name));
            if b.force_new {
                if b.block.configured_part(p) != b.block.configured_part(c) {
                    out.push(path.attr(&b.name));
                }
                continue;
            }
            match (b.nesting, p.elements(), c.elements()) {
                (Nesting::List, Some(pe), Some(ce)) => {
                    for (i, (pi, ci)) in pe.iter().zip(ce).enumerate() {
                        b.block.replace_paths(pi, ci, &path.attr(&b.name).index(i), out);
                    }
                }
                (Nesting::Single | Nesting::Group, _, _) => b.block.replace_paths(p, c, &path.attr(&b.name), out),
                _ => {}
            }
        }
    }
}

/// A resource or provider schema.
#[derive(Debug, Clone)]
pub struct Schema {
    /// State schema version (bump with an upgrade step when the state layout changes).
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::value::Number;

    fn block() -> Block {
        Block::new("t")
            .attr(Attribute::required("name", Type::String, "n").force_new())
            .attr(Attribute::computed("id", Type::String, "i"))
            .attr(Attribute::with_default("wait", Type::Bool, Value::Bool(true), "w"))
            .attr(Attribute::optional("size", Type::Number, "s").validate(Validator {
                description: "positive".into(),
                check: Arc::new(|v, p, d| {
                    if v.as_number().map(|n| n.as_f64() <= 0.0).unwrap_or(false) {
                        d.attr_error(p, "Invalid size", "must be positive");
                    }
                }),
            }))
            .block(NestedBlock::list("pool", Block::new("p").attr(Attribute::computed("id", Type::String, "p")), 1, 2))
    }

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    #[test]
    fn validation_reports_paths_and_skips_unknowns() {
        let b = block();
        let cfg = obj(vec![
            ("name", Value::string("a")),
            ("id", Value::Null),
            ("wait", Value::Null),
            ("size", Value::Number(Number::Int(-1))),
            ("pool", Value::List(vec![])),
        ]);
        let mut d = Diagnostics::new();
        b.validate(&cfg, &AttrPath::root(), &mut d);
        assert_eq!(d.0.len(), 2, "{d:?}");
        assert_eq!(d.0[0].path, Some(AttrPath::root().attr("size")));
        assert_eq!(d.0[1].path, Some(AttrPath::root().attr("pool")));

        let cfg = obj(vec![("size", Value::Unknown), ("pool", Value::Unknown)]);
        let mut d = Diagnostics::new();
        b.validate(&cfg, &AttrPath::root(), &mut d);
        assert!(!d.has_errors());
    }

    #[test]
    fn plan_fills_defaults_and_unknowns_then_keeps_prior_values() {
        let b = block();
        let cfg = obj(vec![
            ("name", Value::string("a")),
            ("id", Value::Null),
            ("wait", Value::Null),
            ("size", Value::Null),
            ("pool", Value::List(vec![obj(vec![("id", Value::Null)])])),
        ]);
        let planned = b.plan(&cfg, None, false);
        assert_eq!(planned.attr("id"), &Value::Unknown);
        assert_eq!(planned.attr("wait"), &Value::Bool(true));
        assert_eq!(planned.attr("pool").elements().map(|e| e[0].attr("id").clone()), Some(Value::Unknown));

        let mut prior = planned.clone();
        if let Some(m) = prior.attrs_mut() {
            m.insert("id".into(), Value::string("c-1"));
        }
        let again = b.plan(&cfg, Some(&prior), false);
        assert_eq!(again.attr("id"), &Value::string("c-1"));
        assert_eq!(b.plan(&cfg, Some(&prior), true).attr("id"), &Value::Unknown);
    }

    #[test]
    fn removed_attributes_go_back_to_their_default() {
        let b = block();
        // Terraform proposes the prior `wait = false` although the configuration dropped it.
        let config = obj(vec![("name", Value::string("a")), ("wait", Value::Null)]);
        let mut planned = obj(vec![("name", Value::string("a")), ("wait", Value::Bool(false))]);
        b.restore_defaults(&config, &mut planned);
        assert_eq!(planned.attr("wait"), &Value::Bool(true));
    }

    #[test]
    fn force_new_changes_are_reported() {
        let b = block();
        let prior = obj(vec![("name", Value::string("a")), ("size", Value::Null)]);
        let cfg = obj(vec![("name", Value::string("b")), ("size", Value::Null)]);
        let mut out = Vec::new();
        b.replace_paths(&prior, &cfg, &AttrPath::root(), &mut out);
        assert_eq!(out, vec![AttrPath::root().attr("name")]);
        out.clear();
        b.replace_paths(&prior, &prior, &AttrPath::root(), &mut out);
        assert!(out.is_empty());
    }
}
