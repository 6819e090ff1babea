//! What the item commands of every kind do alike. `read`, `delete`, `create`, `update`,
//! `list` and the membership actions of roles, groups, users, accounts, auth methods,
//! scopes, host catalogs, host sets and hosts differ only in the kind's noun (`read on host
//! catalog`), its collection's path (`host-catalogs`) and its tables. Each command module
//! names its kind once, as a [`Kind`] const, and its `run` calls the methods here; it keeps
//! what is its own: its clap enum, its tables, and request bodies that carry more than a
//! name and a description.
//!
//! The kinds that live in a scope also share their flags ([`ScopedCreateArgs`],
//! [`NameUpdateArgs`], [`ScopedListArgs`] in [`super::args`]) and the requests those make:
//! [`Kind::list_in_scope`], [`Kind::create_in_scope`], [`Kind::update_name`]; hosts and host
//! sets list through [`Kind::list_in_catalog`].

use postern_api::bodies::{Members, NameUpdate, ScopedCreate};
use serde::Serialize;
use serde_json::Value;

use super::args::{CatalogListArgs, NameUpdateArgs, ScopedCreateArgs, ScopedListArgs};
use super::{items_json, list_query, Context};
use crate::api::segment;
use crate::output::Format;
use crate::ClientError;

/// A kind of item the controller serves, as the CLI names and prints it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Kind {
    /// As actions name one: `read on host catalog`; `list on <noun>s`.
    pub noun: &'static str,
    /// The collection's path below `/v1/`: `host-catalogs`.
    pub collection: &'static str,
    /// Boundary's table of one item, for every command that prints one.
    pub item_table: fn(&Value, usize) -> String,
}

impl Kind {
    /// The item's path: `host-catalogs/hcst_...`.
    pub fn path(&self, id: &str) -> String {
        format!("{}/{}", self.collection, segment(id))
    }

    /// `<kinds> list ...` with `query`; `table` lays the items out at a width.
    pub fn list(
        &self,
        ctx: &Context,
        query: &[(&str, String)],
        table: impl FnOnce(&[Value], usize) -> String,
    ) -> Result<String, ClientError> {
        let action = format!("list on {}s", self.noun);
        let response = ctx.api.get(&action, self.collection, query)?;
        Ok(match ctx.format {
            Format::Table => table(response.items(), ctx.width),
            Format::Json => items_json(response.status, response.items()),
        })
    }

    /// `<kinds> read -id`.
    pub fn read(&self, ctx: &Context, id: &str) -> Result<String, ClientError> {
        let action = format!("read on {}", self.noun);
        let response = ctx.api.get(&action, &self.path(id), &[])?;
        Ok(ctx.item_output(&response, self.item_table))
    }

    /// `<kinds> create ...`: posts `body` to the collection.
    pub fn create(&self, ctx: &Context, body: &impl Serialize) -> Result<String, ClientError> {
        let action = format!("create on {}", self.noun);
        let response = ctx.api.post(&action, self.collection, body)?;
        Ok(ctx.item_output(&response, self.item_table))
    }

    /// `<kinds> update -id ... [-version]`: `body` is built for the version, the item's
    /// current one (read first) unless given.
    pub fn update<B: Serialize>(
        &self,
        ctx: &Context,
        id: &str,
        version: Option<u32>,
        body: impl FnOnce(u32) -> B,
    ) -> Result<String, ClientError> {
        let path = self.path(id);
        let read = format!("read on {}", self.noun);
        let body = body(ctx.version_or_current(version, &read, &path)?);
        let response = ctx
            .api
            .patch(&format!("update on {}", self.noun), &path, &body)?;
        Ok(ctx.item_output(&response, self.item_table))
    }

    /// `<kinds> delete -id`.
    pub fn delete(&self, ctx: &Context, id: &str) -> Result<String, ClientError> {
        let action = format!("delete on {}", self.noun);
        let response = ctx.api.delete(&action, &self.path(id))?;
        Ok(ctx.deleted(&response))
    }

    /// A membership action (`add-accounts`, `set-hosts`, ...) sending `values` as `M`: the
    /// version is read first unless given.
    pub fn change_members<M: Members>(
        &self,
        ctx: &Context,
        id: &str,
        action: &str,
        version: Option<u32>,
        values: &[String],
    ) -> Result<String, ClientError> {
        let response =
            ctx.change_members::<M>(self.noun, &self.path(id), action, version, values)?;
        Ok(ctx.item_output(&response, self.item_table))
    }

    /// `<kinds> list [-scope-id global] [-recursive] [-filter]`; `table` gets the items and
    /// whether the list was recursive.
    pub fn list_in_scope(
        &self,
        ctx: &Context,
        args: &ScopedListArgs,
        table: fn(&[Value], bool, usize) -> String,
    ) -> Result<String, ClientError> {
        let filter = args.filter.as_deref();
        let query = list_query("scope_id", &args.scope_id, args.recursive, filter);
        self.list(ctx, &query, |items, width| {
            table(items, args.recursive, width)
        })
    }

    /// `<kinds> list -host-catalog-id [-filter]`: hosts and host sets.
    pub fn list_in_catalog(
        &self,
        ctx: &Context,
        args: &CatalogListArgs,
        table: fn(&[Value], usize) -> String,
    ) -> Result<String, ClientError> {
        let filter = args.filter.as_deref();
        let query = list_query("host_catalog_id", &args.host_catalog_id, false, filter);
        self.list(ctx, &query, table)
    }

    /// `<kinds> create [<type>] -scope-id [-name] [-description]`; `type_` for the kinds
    /// that come in types (`password`, `static`).
    pub fn create_in_scope(
        &self,
        ctx: &Context,
        args: &ScopedCreateArgs,
        type_: Option<&str>,
    ) -> Result<String, ClientError> {
        self.create(
            ctx,
            &ScopedCreate {
                scope_id: Some(args.scope_id.clone()),
                name: args.name.clone(),
                description: args.description.clone(),
                kind: type_.map(str::to_owned),
            },
        )
    }

    /// `<kinds> update [<type>] -id [-name] [-description] [-version]`: only the given
    /// fields change.
    pub fn update_name(&self, ctx: &Context, args: &NameUpdateArgs) -> Result<String, ClientError> {
        self.update(ctx, &args.id, args.version, |version| NameUpdate {
            version: Some(version),
            name: args.name.clone(),
            description: args.description.clone(),
        })
    }
}
