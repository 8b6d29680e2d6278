//! Resource documentation in the Terraform registry layout (`docs/resources/<name>.md`),
//! rendered from the schemas so the two cannot drift: a test fails when a page is stale.

use std::fmt::Write;

use crate::core::{Attribute, Block, Nesting, Type};

fn type_name(t: &Type) -> String {
    match t {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object { .. } => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn attr_line(out: &mut String, a: &Attribute) {
    let mut flags = vec![type_name(&a.ty)];
    if a.sensitive {
        flags.push("Sensitive".into());
    }
    let _ = writeln!(
        out,
        "- `{}` ({}) {}{}",
        a.name,
        flags.join(", "),
        a.description,
        if a.force_new { " Changing it replaces the resource." } else { "" }
    );
}

fn block_section(out: &mut String, title: &str, b: &Block, nested: &mut Vec<(String, Block)>) {
    fn required(a: &Attribute) -> bool {
        a.required
    }
    fn optional(a: &Attribute) -> bool {
        a.optional
    }
    fn read_only(a: &Attribute) -> bool {
        a.computed && !a.optional && !a.required
    }
    type AttrFilter = fn(&Attribute) -> bool;
    let groups: [(&str, AttrFilter); 3] = [("Required", required), ("Optional", optional), ("Read-Only", read_only)];
    for (name, pick) in groups.iter() {
        let attrs: Vec<&Attribute> = b.attributes.iter().filter(|a| pick(a)).collect();
        let blocks: Vec<_> = if *name == "Optional" || *name == "Required" {
            b.blocks.iter().filter(|nb| (nb.min_items > 0) == (*name == "Required")).collect()
        } else {
            Vec::new()
        };
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {name}{title}\n");
        for a in attrs {
            attr_line(out, a);
        }
        for nb in blocks {
            let how = match nb.nesting {
                Nesting::Single | Nesting::Group => "Block".to_owned(),
                Nesting::List => format!("Block List, Min: {}, Max: {}", nb.min_items, nb.max_items),
                Nesting::Set => "Block Set".to_owned(),
                Nesting::Map => "Block Map".to_owned(),
            };
            let _ = writeln!(out, "- `{}` ({how}) {} (see [below](#nestedblock--{}))", nb.name, nb.block.description, nb.name);
            nested.push((nb.name.clone(), nb.block.clone()));
        }
        out.push('\n');
    }
}

/// The Markdown page of one resource.
pub fn resource_page(name: &str, block: &Block, example: &str, import: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---\npage_title: \"{name} Resource - sparkoss\"\ndescription: |-\n  {}\n---\n", block.description);
    let _ = writeln!(out, "# {name} (Resource)\n\n{}\n", block.description);
    let _ = writeln!(out, "## Example Usage\n\n```terraform\n{}```\n", example);
    let _ = writeln!(out, "## Schema\n");
    let mut nested = Vec::new();
    block_section(&mut out, "", block, &mut nested);
    while !nested.is_empty() {
        let (bname, b) = nested.remove(0);
        let _ = writeln!(out, "<a id=\"nestedblock--{bname}\"></a>\n### Nested Schema for `{bname}`\n");
        let mut inner = String::new();
        block_section(&mut inner, &format!(" in `{bname}`"), &b, &mut nested);
        out.push_str(&inner.replace("### ", "#### "));
    }
    if !import.is_empty() {
        let _ = writeln!(out, "## Import\n\n```shell\n{import}```");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::provider::Provider;

    /// Fails when `docs/resources/*.md` do not match the schemas; `SPARKOSS_UPDATE_DOCS=1`
    /// rewrites them.
    #[test]
    fn docs_match_the_schemas() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let p = Provider::standard();
        let update = std::env::var_os("SPARKOSS_UPDATE_DOCS").is_some();
        let mut stale = Vec::new();
        for (name, schema) in p.resource_schemas() {
            let ex = root.join("examples/resources").join(name);
            let example =
                std::fs::read_to_string(ex.join("resource.tf")).expect("every resource has examples/resources/<name>/resource.tf");
            let import = std::fs::read_to_string(ex.join("import.sh")).unwrap_or_default();
            let page = super::resource_page(name, &schema.block, &example, &import);
            let file = root.join("docs/resources").join(format!("{}.md", name.trim_start_matches("sparkoss_")));
            if update {
                std::fs::write(&file, &page).expect("writes docs");
            } else if std::fs::read_to_string(&file).ok().as_deref() != Some(page.as_str()) {
                stale.push(file.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "stale docs (regenerate with SPARKOSS_UPDATE_DOCS=1 cargo test -p terraform-provider-sparkoss docs): {stale:?}"
        );
    }

    /// The docs test only checks when `SPARKOSS_UPDATE_DOCS` is unset, so the test command must
    /// unset it before running the tests (a flag left in a shell must not turn the check off).
    #[test]
    fn the_test_command_never_runs_the_docs_test_in_update_mode() {
        let script = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/test")).expect("scripts/test");
        let code: Vec<&str> = script.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
        let unset = code.iter().position(|l| *l == "unset SPARKOSS_UPDATE_DOCS");
        let first_test = code.iter().position(|l| l.starts_with("cargo test"));
        assert!(first_test.is_some(), "scripts/test runs cargo test");
        assert!(unset.is_some() && unset < first_test, "scripts/test unsets SPARKOSS_UPDATE_DOCS before `cargo test`");
    }
}
