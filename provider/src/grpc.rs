//! The tfplugin6 gRPC adapter: decode the request, call the protocol-free [`Provider`], encode
//! the answer. Diagnostics become protocol diagnostics here and nowhere else.

use std::collections::HashMap;
use std::sync::Arc;

use sparkoss_proto::tfplugin6 as pb;
use tonic::{Request, Response, Status};

use crate::core::{msgpack, AttrPath, Block, Diagnostic, Diagnostics, Nesting, PathStep, Schema, Severity, Type, Value};
use crate::provider::Provider;

/// The gRPC face of the provider.
pub struct GrpcProvider {
    core: Arc<Provider>,
}

impl GrpcProvider {
    /// Wraps the core provider.
    pub fn new(core: Arc<Provider>) -> Self {
        GrpcProvider { core }
    }
}

/// Converts a core schema to its protocol form.
pub fn schema_to_pb(s: &Schema) -> pb::Schema {
    pb::Schema { version: s.version, block: Some(block_to_pb(&s.block, s.version)) }
}

fn block_to_pb(b: &Block, version: i64) -> pb::schema::Block {
    pb::schema::Block {
        version,
        attributes: b
            .attributes
            .iter()
            .map(|a| pb::schema::Attribute {
                name: a.name.clone(),
                r#type: a.ty.to_json_bytes(),
                nested_type: None,
                description: attribute_description(a),
                required: a.required,
                optional: a.optional,
                computed: a.computed,
                sensitive: a.sensitive,
                description_kind: pb::StringKind::Markdown as i32,
                deprecated: false,
                write_only: false,
                ..Default::default()
            })
            .collect(),
        block_types: b
            .blocks
            .iter()
            .map(|nb| pb::schema::NestedBlock {
                type_name: nb.name.clone(),
                block: Some(block_to_pb(&nb.block, 0)),
                nesting: match nb.nesting {
                    Nesting::Single => pb::schema::nested_block::NestingMode::Single,
                    Nesting::Group => pb::schema::nested_block::NestingMode::Group,
                    Nesting::List => pb::schema::nested_block::NestingMode::List,
                    Nesting::Set => pb::schema::nested_block::NestingMode::Set,
                    Nesting::Map => pb::schema::nested_block::NestingMode::Map,
                } as i32,
                min_items: nb.min_items,
                max_items: nb.max_items,
            })
            .collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecated,
        ..Default::default()
    }
}

fn attribute_description(a: &crate::core::Attribute) -> String {
    let mut d = a.description.clone();
    if a.force_new {
        d.push_str(" Changing it replaces the resource.");
    }
    d
}

fn path_to_pb(p: &AttrPath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: p
            .0
            .iter()
            .map(|s| pb::attribute_path::Step {
                selector: Some(match s {
                    PathStep::Attr(a) => Selector::AttributeName(a.clone()),
                    PathStep::Key(k) => Selector::ElementKeyString(k.clone()),
                    PathStep::Index(i) => Selector::ElementKeyInt(*i),
                }),
            })
            .collect(),
    }
}

fn diag_to_pb(d: &Diagnostic) -> pb::Diagnostic {
    pb::Diagnostic {
        severity: match d.severity {
            Severity::Error => pb::diagnostic::Severity::Error,
            Severity::Warning => pb::diagnostic::Severity::Warning,
        } as i32,
        summary: d.summary.clone(),
        detail: d.detail.clone(),
        attribute: d.path.as_ref().filter(|p| !p.0.is_empty()).map(path_to_pb),
    }
}

/// Converts diagnostics to their protocol form.
pub fn diags_to_pb(d: &Diagnostics) -> Vec<pb::Diagnostic> {
    d.0.iter().map(diag_to_pb).collect()
}

/// Decodes a `DynamicValue` of type `ty`: msgpack when present, otherwise JSON, otherwise null.
pub fn decode_dv(dv: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, Diagnostics> {
    let mut d = Diagnostics::new();
    let result = match dv {
        Some(v) if !v.msgpack.is_empty() => msgpack::decode(&v.msgpack, ty),
        Some(v) if !v.json.is_empty() => serde_json::from_slice::<serde_json::Value>(&v.json)
            .map_err(|e| crate::core::CoreError::Value(e.to_string()))
            .and_then(|j| Value::from_json(&j, ty)),
        _ => Ok(Value::Null),
    };
    result.map_err(|e| {
        d.error("Invalid value from Terraform", e.to_string());
        d
    })
}

/// Encodes a value of type `ty` as a msgpack `DynamicValue`.
pub fn encode_dv(v: &Value, ty: &Type) -> Result<pb::DynamicValue, Diagnostics> {
    msgpack::encode(v, ty).map(|msgpack| pb::DynamicValue { msgpack, json: Vec::new() }).map_err(|e| {
        let mut d = Diagnostics::new();
        d.error("Provider produced a value it cannot encode", e.to_string());
        d
    })
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities { plan_destroy: true, get_provider_schema_optional: false, move_resource_state: false, ..Default::default() }
}

impl GrpcProvider {
    fn resource_type(&self, type_name: &str) -> Result<Type, Diagnostics> {
        Ok(self.core.resource(type_name)?.schema().block.implied_type())
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl pb::provider_server::Provider for GrpcProvider {
    async fn get_metadata(&self, _r: Request<pb::get_metadata::Request>) -> RpcResult<pb::get_metadata::Response> {
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            resources: self
                .core
                .resource_schemas()
                .into_iter()
                .map(|(n, _)| pb::get_metadata::ResourceMetadata { type_name: n.to_owned() })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(&self, _r: Request<pb::get_provider_schema::Request>) -> RpcResult<pb::get_provider_schema::Response> {
        let resource_schemas: HashMap<String, pb::Schema> =
            self.core.resource_schemas().into_iter().map(|(n, s)| (n.to_owned(), schema_to_pb(s))).collect();
        Ok(Response::new(pb::get_provider_schema::Response {
            provider: Some(schema_to_pb(self.core.provider_schema())),
            resource_schemas,
            provider_meta: Some(pb::Schema { version: 0, block: Some(pb::schema::Block::default()) }),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }))
    }

    async fn validate_provider_config(
        &self,
        r: Request<pb::validate_provider_config::Request>,
    ) -> RpcResult<pb::validate_provider_config::Response> {
        let r = r.into_inner();
        let ty = self.core.provider_schema().block.implied_type();
        let diags = match decode_dv(r.config.as_ref(), &ty) {
            Ok(cfg) => self.core.validate_provider_config(&cfg),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_provider_config::Response { diagnostics: diags_to_pb(&diags) }))
    }

    async fn configure_provider(&self, r: Request<pb::configure_provider::Request>) -> RpcResult<pb::configure_provider::Response> {
        let r = r.into_inner();
        let ty = self.core.provider_schema().block.implied_type();
        let diags = match decode_dv(r.config.as_ref(), &ty) {
            Ok(cfg) => self.core.configure(&cfg),
            Err(d) => d,
        };
        tracing::debug!(terraform_version = %r.terraform_version, "configured");
        Ok(Response::new(pb::configure_provider::Response { diagnostics: diags_to_pb(&diags) }))
    }

    async fn validate_resource_config(
        &self,
        r: Request<pb::validate_resource_config::Request>,
    ) -> RpcResult<pb::validate_resource_config::Response> {
        let r = r.into_inner();
        let diags = match self.resource_type(&r.type_name).and_then(|ty| decode_dv(r.config.as_ref(), &ty)) {
            Ok(cfg) => self.core.validate_resource(&r.type_name, &cfg),
            Err(d) => d,
        };
        Ok(Response::new(pb::validate_resource_config::Response { diagnostics: diags_to_pb(&diags) }))
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<pb::upgrade_resource_state::Request>,
    ) -> RpcResult<pb::upgrade_resource_state::Response> {
        let r = r.into_inner();
        let json = r.raw_state.map(|s| s.json).unwrap_or_default();
        let out = self.resource_type(&r.type_name).and_then(|ty| {
            let v = if json.is_empty() { Value::Null } else { self.core.upgrade_state(&r.type_name, r.version, &json)? };
            encode_dv(&v, &ty)
        });
        Ok(Response::new(match out {
            Ok(dv) => pb::upgrade_resource_state::Response { upgraded_state: Some(dv), diagnostics: Vec::new() },
            Err(d) => pb::upgrade_resource_state::Response { upgraded_state: None, diagnostics: diags_to_pb(&d) },
        }))
    }

    async fn read_resource(&self, r: Request<pb::read_resource::Request>) -> RpcResult<pb::read_resource::Response> {
        let r = r.into_inner();
        let out = async {
            let ty = self.resource_type(&r.type_name)?;
            let state = decode_dv(r.current_state.as_ref(), &ty)?;
            let new_state = self.core.read(&r.type_name, &state).await?.unwrap_or(Value::Null);
            encode_dv(&new_state, &ty)
        }
        .await;
        Ok(Response::new(match out {
            Ok(dv) => pb::read_resource::Response { new_state: Some(dv), private: r.private, ..Default::default() },
            Err(d) => pb::read_resource::Response {
                new_state: r.current_state,
                private: r.private,
                diagnostics: diags_to_pb(&d),
                ..Default::default()
            },
        }))
    }

    async fn plan_resource_change(&self, r: Request<pb::plan_resource_change::Request>) -> RpcResult<pb::plan_resource_change::Response> {
        let r = r.into_inner();
        let out = async {
            let ty = self.resource_type(&r.type_name)?;
            let prior = decode_dv(r.prior_state.as_ref(), &ty)?;
            let proposed = decode_dv(r.proposed_new_state.as_ref(), &ty)?;
            let config = decode_dv(r.config.as_ref(), &ty)?;
            let plan = self.core.plan_change(&r.type_name, &prior, &proposed, &config).await?;
            Ok::<_, Diagnostics>((encode_dv(&plan.planned, &ty)?, plan.requires_replace))
        }
        .await;
        Ok(Response::new(match out {
            Ok((dv, replace)) => pb::plan_resource_change::Response {
                planned_state: Some(dv),
                requires_replace: replace.iter().map(path_to_pb).collect(),
                planned_private: r.prior_private,
                ..Default::default()
            },
            Err(d) => pb::plan_resource_change::Response { diagnostics: diags_to_pb(&d), ..Default::default() },
        }))
    }

    async fn apply_resource_change(
        &self,
        r: Request<pb::apply_resource_change::Request>,
    ) -> RpcResult<pb::apply_resource_change::Response> {
        let r = r.into_inner();
        let ty = match self.resource_type(&r.type_name) {
            Ok(t) => t,
            Err(d) => return Ok(Response::new(pb::apply_resource_change::Response { diagnostics: diags_to_pb(&d), ..Default::default() })),
        };
        let decoded = decode_dv(r.prior_state.as_ref(), &ty).and_then(|p| Ok((p, decode_dv(r.planned_state.as_ref(), &ty)?)));
        let (prior, planned) = match decoded {
            Ok(v) => v,
            Err(d) => {
                return Ok(Response::new(pb::apply_resource_change::Response {
                    new_state: r.prior_state,
                    diagnostics: diags_to_pb(&d),
                    ..Default::default()
                }))
            }
        };
        let mut applied = self.core.apply(&r.type_name, &prior, &planned).await;
        let new_state = match encode_dv(&applied.state, &ty) {
            Ok(dv) => Some(dv),
            Err(d) => {
                applied.diags.extend(d);
                r.prior_state
            }
        };
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private: r.planned_private,
            diagnostics: diags_to_pb(&applied.diags),
            ..Default::default()
        }))
    }

    async fn import_resource_state(
        &self,
        r: Request<pb::import_resource_state::Request>,
    ) -> RpcResult<pb::import_resource_state::Response> {
        let r = r.into_inner();
        let out = async {
            let ty = self.resource_type(&r.type_name)?;
            let state = self.core.import(&r.type_name, &r.id).await?;
            encode_dv(&state, &ty)
        }
        .await;
        Ok(Response::new(match out {
            Ok(dv) => pb::import_resource_state::Response {
                imported_resources: vec![pb::import_resource_state::ImportedResource {
                    type_name: r.type_name,
                    state: Some(dv),
                    ..Default::default()
                }],
                ..Default::default()
            },
            Err(d) => pb::import_resource_state::Response { diagnostics: diags_to_pb(&d), ..Default::default() },
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _r: Request<pb::get_resource_identity_schemas::Request>,
    ) -> RpcResult<pb::get_resource_identity_schemas::Response> {
        // No resource has an identity schema (yet): an empty map says so.
        Ok(Response::new(pb::get_resource_identity_schemas::Response::default()))
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<pb::validate_data_resource_config::Request>,
    ) -> RpcResult<pb::validate_data_resource_config::Response> {
        Ok(Response::new(pb::validate_data_resource_config::Response { diagnostics: no_such("data source", &r.into_inner().type_name) }))
    }

    async fn read_data_source(&self, r: Request<pb::read_data_source::Request>) -> RpcResult<pb::read_data_source::Response> {
        Ok(Response::new(pb::read_data_source::Response {
            diagnostics: no_such("data source", &r.into_inner().type_name),
            ..Default::default()
        }))
    }

    async fn get_functions(&self, _r: Request<pb::get_functions::Request>) -> RpcResult<pb::get_functions::Response> {
        Ok(Response::new(pb::get_functions::Response::default()))
    }

    async fn call_function(&self, r: Request<pb::call_function::Request>) -> RpcResult<pb::call_function::Response> {
        Ok(Response::new(pb::call_function::Response {
            result: None,
            error: Some(pb::FunctionError {
                text: format!("this provider has no function {:?}", r.into_inner().name),
                function_argument: None,
            }),
        }))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        r: Request<pb::validate_ephemeral_resource_config::Request>,
    ) -> RpcResult<pb::validate_ephemeral_resource_config::Response> {
        Ok(Response::new(pb::validate_ephemeral_resource_config::Response {
            diagnostics: no_such("ephemeral resource", &r.into_inner().type_name),
        }))
    }

    async fn stop_provider(&self, _r: Request<pb::stop_provider::Request>) -> RpcResult<pb::stop_provider::Response> {
        self.core.stop();
        Ok(Response::new(pb::stop_provider::Response { error: String::new() }))
    }
}

fn no_such(kind: &str, name: &str) -> Vec<pb::Diagnostic> {
    let mut d = Diagnostics::new();
    d.error(format!("Unknown {kind}"), format!("this provider has no {kind} {name:?}"));
    diags_to_pb(&d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::provider_server::Provider as _;

    fn grpc() -> GrpcProvider {
        GrpcProvider::new(Arc::new(Provider::standard()))
    }

    fn ty(type_name: &str) -> Type {
        grpc().resource_type(type_name).expect("known type")
    }

    #[tokio::test]
    async fn data_sources_functions_and_identities_are_answered_empty() {
        let g = grpc();
        let f = g.get_functions(Request::new(pb::get_functions::Request {})).await.expect("answers").into_inner();
        assert!(f.functions.is_empty() && f.diagnostics.is_empty());
        let ids = g.get_resource_identity_schemas(Request::new(pb::get_resource_identity_schemas::Request {})).await.expect("answers");
        assert!(ids.into_inner().identity_schemas.is_empty());
        let ds = g
            .validate_data_resource_config(Request::new(pb::validate_data_resource_config::Request {
                type_name: "sparkoss_x".into(),
                ..Default::default()
            }))
            .await
            .expect("answers")
            .into_inner();
        assert_eq!(ds.diagnostics.len(), 1);
        assert_eq!(ds.diagnostics[0].severity, pb::diagnostic::Severity::Error as i32);
        let call =
            g.call_function(Request::new(pb::call_function::Request { name: "nope".into(), arguments: vec![] })).await.expect("answers");
        assert!(call.into_inner().error.is_some_and(|e| e.text.contains("nope")));
        let meta = g.get_metadata(Request::new(pb::get_metadata::Request {})).await.expect("answers").into_inner();
        assert_eq!(meta.resources.len(), 3);
        assert!(meta.server_capabilities.is_some_and(|c| c.plan_destroy));
    }

    #[tokio::test]
    async fn diagnostics_carry_the_attribute_path() {
        let t = ty("sparkoss_job");
        let Type::Object { attrs, .. } = &t else { unreachable!() };
        let mut cfg: std::collections::BTreeMap<String, Value> = attrs.keys().map(|k| (k.clone(), Value::Null)).collect();
        cfg.insert("spark_conf".into(), Value::Map([("spark.master".to_string(), Value::string("local"))].into_iter().collect()));
        let dv = encode_dv(&Value::Object(cfg), &t).expect("encodes");
        let r = grpc()
            .validate_resource_config(Request::new(pb::validate_resource_config::Request {
                type_name: "sparkoss_job".into(),
                config: Some(dv),
                ..Default::default()
            }))
            .await
            .expect("answers")
            .into_inner();
        assert_eq!(r.diagnostics.len(), 1, "{:?}", r.diagnostics);
        use pb::attribute_path::step::Selector;
        let steps: Vec<_> = r.diagnostics[0].attribute.as_ref().expect("path").steps.iter().filter_map(|s| s.selector.clone()).collect();
        assert_eq!(steps, vec![Selector::AttributeName("spark_conf".into()), Selector::ElementKeyString("spark.master".into())]);
    }

    #[tokio::test]
    async fn upgrade_reads_json_state_and_plan_destroy_plans_null() {
        let g = grpc();
        let up = g
            .upgrade_resource_state(Request::new(pb::upgrade_resource_state::Request {
                type_name: "sparkoss_namespace".into(),
                version: 0,
                raw_state: Some(pb::RawState {
                    json: br#"{"id":"team-a","name":"team-a","service_account":"spark-driver"}"#.to_vec(),
                    ..Default::default()
                }),
            }))
            .await
            .expect("answers")
            .into_inner();
        assert!(up.diagnostics.is_empty(), "{:?}", up.diagnostics);
        let t = ty("sparkoss_namespace");
        let state = decode_dv(up.upgraded_state.as_ref(), &t).expect("decodes");
        assert_eq!(state.attr("name"), &Value::string("team-a"));

        let plan = g
            .plan_resource_change(Request::new(pb::plan_resource_change::Request {
                type_name: "sparkoss_namespace".into(),
                prior_state: up.upgraded_state.clone(),
                proposed_new_state: Some(encode_dv(&Value::Null, &t).expect("null")),
                config: Some(encode_dv(&Value::Null, &t).expect("null")),
                ..Default::default()
            }))
            .await
            .expect("answers")
            .into_inner();
        assert!(plan.diagnostics.is_empty());
        assert_eq!(decode_dv(plan.planned_state.as_ref(), &t).expect("decodes"), Value::Null);
    }
}
