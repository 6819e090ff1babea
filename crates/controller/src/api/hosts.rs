//! Static hosts: `/v1/host-catalogs` (in a project), `/v1/host-sets` and `/v1/hosts` (under a
//! catalog, listed with `?host_catalog_id=`), and the host set actions `:add-hosts`,
//! `:set-hosts`, `:remove-hosts` (body `{"version", "host_ids"}`). Admin-only.

use super::body::Fields;
use super::error::ApiError;
use super::resources::Resource;
use crate::resources::{
    Host, HostCatalog, HostCatalogPatch, HostPatch, HostSet, HostSetPatch, NewHost, NewHostCatalog,
    NewHostSet,
};

impl Resource for HostCatalog {
    /// Body: `scope_id` (a project), `name`, `description`, `type` (`static`).
    fn new_from(fields: &Fields<'_>) -> Result<NewHostCatalog, ApiError> {
        Ok(NewHostCatalog {
            scope_id: fields.str("scope_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<HostCatalogPatch, ApiError> {
        fields.name_patch()
    }
}

impl Resource for HostSet {
    /// Body: `host_catalog_id`, `name`, `description`, `type` (`static`).
    fn new_from(fields: &Fields<'_>) -> Result<NewHostSet, ApiError> {
        Ok(NewHostSet {
            host_catalog_id: fields.str("host_catalog_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<HostSetPatch, ApiError> {
        fields.name_patch()
    }
}

impl Resource for Host {
    /// Body: `host_catalog_id`, `name`, `description`, `type` (`static`),
    /// `attributes: {address}`.
    fn new_from(fields: &Fields<'_>) -> Result<NewHost, ApiError> {
        Ok(NewHost {
            host_catalog_id: fields.str("host_catalog_id")?,
            name: fields.opt_str("name")?.unwrap_or_default(),
            description: fields.opt_str("description")?.unwrap_or_default(),
            address: fields.object("attributes")?.str("address")?,
        })
    }

    fn patch_from(fields: &Fields<'_>) -> Result<HostPatch, ApiError> {
        Ok(HostPatch {
            name: fields.patch_str("name")?,
            description: fields.patch_str("description")?,
            address: fields.object("attributes")?.opt_str("address")?,
        })
    }
}
