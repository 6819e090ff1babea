//! Static hosts: `/v1/host-catalogs` (in a project), `/v1/host-sets` and `/v1/hosts` (under a
//! catalog, listed with `?host_catalog_id=`), and the host set actions `:add-hosts`,
//! `:set-hosts`, `:remove-hosts` (body `{"version", "host_ids"}`). Host catalogs' bodies are
//! the scoped kinds' (`resources`).

use postern_api::bodies::{HostCreate, HostSetCreate, HostUpdate, NameUpdate};

use super::body::required;
use super::error::ApiError;
use super::resources::Resource;
use crate::resources::{Host, HostPatch, HostSet, HostSetPatch, NewHost, NewHostSet};

impl Resource for HostSet {
    type Create = HostSetCreate;
    type Update = NameUpdate;

    fn new_from(body: HostSetCreate) -> Result<NewHostSet, ApiError> {
        Ok(NewHostSet {
            host_catalog_id: required(body.host_catalog_id, "host_catalog_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
        })
    }

    fn patch_from(body: NameUpdate) -> HostSetPatch {
        body.into()
    }
}

impl Resource for Host {
    type Create = HostCreate;
    type Update = HostUpdate;

    fn new_from(body: HostCreate) -> Result<NewHost, ApiError> {
        Ok(NewHost {
            host_catalog_id: required(body.host_catalog_id, "host_catalog_id")?,
            name: body.name.unwrap_or_default(),
            description: body.description.unwrap_or_default(),
            address: required(
                body.attributes.unwrap_or_default().address,
                "attributes.address",
            )?,
        })
    }

    fn patch_from(body: HostUpdate) -> HostPatch {
        HostPatch {
            name: body.name,
            description: body.description,
            address: body.attributes.unwrap_or_default().address,
        }
    }
}
