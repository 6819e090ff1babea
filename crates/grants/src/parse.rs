//! Boundary's `perms.Parse` after the form-specific read: the id checks, templates, type and
//! action validation, and (unless skipped) the structural validation that refuses grants
//! which could never match anything. The checks run in Boundary's order, so a grant with two
//! faults reports the one Boundary reports.

use crate::acl::grant_matches;
use crate::action::{self, ActionSet};
use crate::error::Stage;
use crate::quote::go_quote;
use crate::unmarshal::{self, Draft, Tok};
use crate::{Grant, GrantError, Resource, ResourceType};

/// The ids Boundary substitutes for templates when no caller is at hand (validation).
const DUMMY_USER: &str = "u_dummy";
const DUMMY_ACCOUNT: &str = "acctoidc_dummy";

/// What a template id stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Template {
    User,
    Account,
}

/// `Some(Ok(..))` for a known template, `Some(Err(()))` for an unknown one, `None` for a
/// plain id. Like Boundary: a leading `{{` makes a template; the braces are trimmed, then
/// the spaces.
pub(crate) fn template(id: &str) -> Option<Result<Template, ()>> {
    let inner = id.strip_prefix("{{")?;
    let inner = inner.strip_suffix("}}").unwrap_or(inner).trim();
    Some(match inner {
        "user.id" | ".User.Id" => Ok(Template::User),
        "account.id" | ".Account.Id" => Ok(Template::Account),
        _ => Err(()),
    })
}

pub(crate) fn parse(raw: &str, final_validation: bool) -> Result<Grant, GrantError> {
    let whole = |stage: Stage, message: String| GrantError::at(raw, 0, raw, stage, message);
    if raw.is_empty() {
        return Err(whole(Stage::Parse, "missing grant string".into()));
    }
    let draft = if raw.starts_with('{') {
        unmarshal::json(raw)?
    } else {
        unmarshal::text(raw)?
    };
    let at = |tok: &Tok, stage: Stage, message: String| {
        GrantError::at(raw, tok.at, &tok.src, stage, message)
    };

    if let (Some(id), false) = (&draft.id, draft.ids.is_empty()) {
        let m = format!(
            r#"input grant string {} contains both "id" and "ids" fields"#,
            go_quote(raw)
        );
        return Err(at(id, Stage::Parse, m));
    }
    if draft.ids.len() > 1 {
        if let Some(star) = draft.ids.iter().find(|t| t.value == "*") {
            let m = format!(
                r#"input grant string {} contains both wildcard and non-wildcard values in "ids" field"#,
                go_quote(raw)
            );
            return Err(at(star, Stage::Parse, m));
        }
        // Before templates are substituted: a template has no known prefix.
        let first = ResourceType::of_id(&draft.ids[0].value);
        if let Some(odd) = draft.ids[1..]
            .iter()
            .find(|t| ResourceType::of_id(&t.value) != first)
        {
            let m = format!(
                "input grant string {} contains ids of differently-typed resources",
                go_quote(raw)
            );
            return Err(at(odd, Stage::Parse, m));
        }
    }

    let deprecated_id = draft.id.is_some();
    let id_toks: Vec<Tok> = match &draft.id {
        Some(id) => vec![id.clone()],
        None => draft.ids.clone(),
    };
    let mut grant = Grant {
        raw: raw.to_owned(),
        ids: id_toks.iter().map(|t| t.value.clone()).collect(),
        deprecated_id,
        kind: draft
            .kind
            .as_ref()
            .map_or(ResourceType::Unknown, |(t, _)| *t),
        actions: ActionSet::default(),
        output_fields: draft.output_fields.clone(),
    };

    // A grant without ids is checked once, as the id "".
    let empty = Tok {
        value: String::new(),
        at: 0,
        src: raw.to_owned(),
    };
    let checks: Vec<&Tok> = if id_toks.is_empty() {
        vec![&empty]
    } else {
        id_toks.iter().collect()
    };
    for (i, tok) in checks.into_iter().enumerate() {
        let id = match template(&tok.value) {
            None => tok.value.as_str(),
            Some(Ok(Template::User)) => DUMMY_USER,
            Some(Ok(Template::Account)) => DUMMY_ACCOUNT,
            Some(Err(())) => {
                let field = if deprecated_id { "id" } else { "ids" };
                let m = format!(
                    "unknown template {} in grant {} value",
                    go_quote(&tok.value),
                    go_quote(field)
                );
                return Err(at(tok, Stage::Parse, m));
            }
        };
        if i == 0 {
            if let Some((ResourceType::Controller, t)) = &draft.kind {
                return Err(at(
                    t,
                    Stage::Type,
                    r#"unknown type specifier "controller""#.into(),
                ));
            }
            grant.actions = actions(raw, &draft, &grant)?;
        }
        if final_validation {
            validate(raw, &draft, &grant, tok, id)?;
        }
    }
    Ok(grant)
}

/// `parseAndValidateActions`.
fn actions(raw: &str, draft: &Draft, grant: &Grant) -> Result<ActionSet, GrantError> {
    let fail = |tok: Option<&Tok>, message: &str| {
        let (at, src) = tok.map_or((0, raw), |t| (t.at, t.src.as_str()));
        GrantError::at(raw, at, src, Stage::Actions, message.to_owned())
    };
    if draft.actions.is_empty() {
        if grant.output_fields.is_some() {
            return Ok(ActionSet::default());
        }
        return Err(fail(draft.actions_value.as_ref(), "missing actions"));
    }
    let mut set = ActionSet::default();
    for tok in &draft.actions {
        if tok.value.is_empty() {
            return Err(fail(Some(tok), "empty action found"));
        }
        match action::index_of(&tok.value) {
            Some(i) => set.insert(i),
            None => {
                let m = format!("unknown action {}", go_quote(&tok.value));
                return Err(fail(Some(tok), &m));
            }
        }
    }
    if set.len() > 1 && set.contains(action::ALL) {
        let star = draft.actions.iter().find(|t| t.value == "*");
        return Err(fail(star, r#""*" cannot be specified with other actions"#));
    }
    Ok(set)
}

/// A create or list action, or one of their sub-actions (`create:worker-led`).
fn is_collection_action(name: &str) -> bool {
    action::index_of(name).is_some_and(|i| {
        let a = action::by_index(i);
        a.is_create || a.is_list
    })
}

/// The structural checks Boundary skips for stored grants. `tok` is where the id was written,
/// `id` the id checked (a template's dummy).
fn validate(
    raw: &str,
    draft: &Draft,
    grant: &Grant,
    tok: &Tok,
    id: &str,
) -> Result<(), GrantError> {
    let fail = |tok: &Tok, what: &str| {
        let m = format!(
            "parsed grant string {} {what}",
            go_quote(&grant.canonical())
        );
        GrantError::at(raw, tok.at, &tok.src, Stage::Parse, m)
    };
    let whole = Tok {
        value: String::new(),
        at: 0,
        src: raw.to_owned(),
    };
    let type_tok = draft.kind.as_ref().map(|(_, t)| t);
    let actions_tok = draft.actions_value.as_ref().unwrap_or(&whole);
    let kind = grant.kind;
    match id {
        "*" => {
            if kind == ResourceType::Unknown {
                return Err(fail(tok, "contains wildcard id and no specified type"));
            }
        }
        "" => match (kind, type_tok) {
            (ResourceType::Unknown, _) | (_, None) => {
                return Err(fail(&whole, "contains no id or type"));
            }
            (ResourceType::All, Some(t)) => {
                return Err(fail(t, "contains wildcard type with no id value"));
            }
            (_, Some(t)) => {
                let n = grant.actions.len();
                if n == 0 {
                    if grant.output_fields.is_none() {
                        return Err(fail(t, "contains no actions or output fields"));
                    }
                } else {
                    let names = grant.actions.sorted_names();
                    let has = |base: &str| {
                        names.iter().any(|a| {
                            *a == base || a.strip_prefix(base).is_some_and(|r| r.starts_with(':'))
                        })
                    };
                    let ok = match n {
                        1 => has("create") || has("list"),
                        2 => has("create") && has("list"),
                        _ => false,
                    };
                    if !ok {
                        let odd = draft
                            .actions
                            .iter()
                            .find(|a| !is_collection_action(&a.value))
                            .unwrap_or(actions_tok);
                        return Err(fail(
                            odd,
                            "contains non-create or non-list action in a format that only allows these",
                        ));
                    }
                }
            }
        },
        _ => {
            let id_type = ResourceType::of_id(id);
            if id_type == ResourceType::Unknown {
                let what = format!(
                    "contains an id {} of an unknown resource type",
                    go_quote(id)
                );
                return Err(fail(tok, &what));
            }
            match kind {
                ResourceType::Unknown => {
                    if grant.actions.contains(action::CREATE)
                        || grant.actions.contains(action::LIST)
                    {
                        let odd = draft
                            .actions
                            .iter()
                            .find(|a| a.value == "create" || a.value == "list")
                            .unwrap_or(actions_tok);
                        return Err(fail(
                            odd,
                            "contains create or list action in a format that does not allow these",
                        ));
                    }
                }
                ResourceType::All => {
                    if !id_type.has_child_types() {
                        return Err(fail(
                            tok,
                            "contains an id that does not support child types",
                        ));
                    }
                }
                _ => {
                    if kind.parent() != id_type {
                        // Boundary names the type's parent here, not the id's type.
                        let what = format!(
                            "contains type {kind} that is not a child type of the type ({}) of the specified id",
                            kind.parent()
                        );
                        return Err(fail(type_tok.unwrap_or(tok), &what));
                    }
                }
            }
        }
    }
    // Would any action be allowed on the resource the grant names? Boundary asks a one-grant
    // ACL about a resource with the grant's id and type, pinned to the id for a child type.
    if !grant.actions.is_empty() {
        let r = Resource {
            id,
            kind,
            scope_id: "p_anything",
            parent_scope_id: "",
            pin: if kind.is_top_level() { "" } else { id },
        };
        let any = grant
            .actions
            .indices()
            .any(|i| grant_matches(id, kind, &r, &action::by_index(i)));
        if !any {
            return Err(fail(
                type_tok.unwrap_or(actions_tok),
                "would not result in any action being authorized",
            ));
        }
    }
    Ok(())
}
