//! A parsed grant and its canonical forms (Boundary's `CanonicalString` and the role JSON's
//! `grants[].json`).

use std::collections::BTreeSet;

use crate::action::{ActionSet, DEPRECATED, NAMES};
use crate::parse;
use crate::{GrantError, ResourceType};

/// One parsed, validated grant.
///
/// Ids keep the form they were written in: a template such as `{{    user.id}}` stays a
/// template here and in [`canonical`](Self::canonical); the [`Acl`](crate::Acl) substitutes
/// the caller's ids when it is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub(crate) raw: String,
    /// The `id=` or `ids=` values, in input order; empty for a grant without ids.
    pub(crate) ids: Vec<String>,
    /// The single id came from the deprecated `id` key.
    pub(crate) deprecated_id: bool,
    /// `Unknown` when the grant names no type.
    pub(crate) kind: ResourceType,
    pub(crate) actions: ActionSet,
    /// `None`: no `output_fields` given; `Some(empty)`: given and empty ("no fields").
    pub(crate) output_fields: Option<BTreeSet<String>>,
}

impl Grant {
    /// Parses a grant as Boundary's `perms.Parse` does for a role's add-grants: the text form,
    /// or the JSON form when the first byte is `{`, then every structural check.
    pub fn parse(text: &str) -> Result<Grant, GrantError> {
        parse::parse(text, true)
    }

    /// Like [`parse`](Self::parse), but without the final structural validation (Boundary's
    /// `WithSkipFinalValidation`): for grants already stored, which were validated when
    /// they were added.
    pub fn parse_stored(text: &str) -> Result<Grant, GrantError> {
        parse::parse(text, false)
    }

    /// The grant string as given.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The canonical text form: `id=`/`ids=`, `type=`, `actions=` (sorted), `output_fields=`
    /// (sorted, or just `*`), joined with `;`. Two grants with one canonical form are one
    /// grant to a role.
    pub fn canonical(&self) -> String {
        let mut parts = Vec::with_capacity(4);
        if self.deprecated_id {
            parts.push(format!("id={}", self.ids.join(",")));
        } else if !self.ids.is_empty() {
            parts.push(format!("ids={}", self.ids.join(",")));
        }
        if self.kind != ResourceType::Unknown {
            parts.push(format!("type={}", self.kind.as_str()));
        }
        if !self.actions.is_empty() {
            parts.push(format!("actions={}", self.actions.sorted_names().join(",")));
        }
        if let Some(fields) = &self.output_fields {
            let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
            parts.push(format!("output_fields={}", fields.join(",")));
        }
        parts.join(";")
    }

    /// The grant as a role's `grants[].json` shows it: `id` or `ids`, `type` (the string
    /// `unknown` for an untyped grant, as Boundary prints it) and `actions`, sorted. Empty
    /// members are left out, as protobuf JSON leaves them out; output fields are not shown.
    pub fn json(&self) -> serde_json::Value {
        let mut obj = serde_json::Map::new();
        if self.deprecated_id {
            obj.insert("id".into(), self.ids.join(",").into());
        } else if !self.ids.is_empty() {
            obj.insert("ids".into(), self.ids.clone().into());
        }
        obj.insert("type".into(), self.kind.as_str().into());
        if !self.actions.is_empty() {
            obj.insert("actions".into(), self.actions.sorted_names().into());
        }
        serde_json::Value::Object(obj)
    }

    /// The deprecated `id=` key was used; the API refuses it in new grants.
    pub fn uses_id_field(&self) -> bool {
        self.deprecated_id
    }

    /// The ids as written (templates unsubstituted), whichever key carried them.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The named type; [`ResourceType::Unknown`] when the grant names none.
    pub fn kind(&self) -> ResourceType {
        self.kind
    }

    /// The granted actions, sorted.
    pub fn actions(&self) -> Vec<&'static str> {
        self.actions.sorted_names()
    }

    /// The output fields, sorted; `None` when the grant does not set them.
    pub fn output_fields(&self) -> Option<Vec<&str>> {
        self.output_fields
            .as_ref()
            .map(|f| f.iter().map(String::as_str).collect())
    }

    /// Deprecated actions the grant names, each with its replacement, e.g.
    /// `("add-host-sets", "add-host-sources")`. The API refuses them in new grants.
    pub fn deprecated_actions(&self) -> Vec<(&'static str, &'static str)> {
        let names: Vec<&str> = self
            .actions
            .indices()
            .map(|i| NAMES[usize::from(i)])
            .collect();
        DEPRECATED
            .iter()
            .copied()
            .filter(|(old, _)| names.contains(old))
            .collect()
    }
}

impl std::fmt::Display for Grant {
    /// The canonical form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical())
    }
}
