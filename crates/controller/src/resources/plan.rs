//! The session plan authorize-session builds from a target: its endpoint, and the host
//! picked from its host sources.

use std::time::Duration;

use rand::seq::SliceRandom;

use super::state::ResourceState;
use super::{validate, ResourceError};
use super::{Host, HostSet, SessionPlan, Target};

impl ResourceState {
    pub fn plan_session(
        &self,
        target_id: &str,
        host_id: Option<&str>,
    ) -> Result<SessionPlan, ResourceError> {
        let target = self.existing_as::<Target>(target_id)?;
        let port = target.attributes.default_port;
        let (host_id, host_set_id, address) = match (&target.address, host_id) {
            (Some(_), Some(host_id)) => {
                let message = format!("target {target_id} has an address, not host {host_id}");
                return Err(ResourceError::invalid("host_id", message));
            }
            (Some(address), None) => (String::new(), String::new(), address.clone()),
            (None, wanted) => {
                let (host, set_id) = self.pick_host(target, wanted)?;
                (
                    host.id.clone(),
                    set_id.to_owned(),
                    host.attributes.address.clone(),
                )
            }
        };
        Ok(SessionPlan {
            target_id: target.id.clone(),
            scope: self.scope_info(&target.scope_id),
            host_id,
            host_set_id,
            endpoint: validate::endpoint(&address, port),
            endpoint_port: port,
            connection_limit: target.session_connection_limit.wire(),
            max_duration: Duration::from_secs(u64::from(target.session_max_seconds)),
            default_client_port: target.attributes.default_client_port,
        })
    }

    /// (host, host set id): the wanted host in the first of the target's sets that holds it,
    /// or a random host of all its sets.
    fn pick_host<'a>(
        &'a self,
        target: &Target,
        wanted: Option<&str>,
    ) -> Result<(&'a Host, &'a str), ResourceError> {
        let candidates: Vec<(&Host, &str)> = target
            .host_source_ids
            .iter()
            .filter_map(|set_id| self.existing_as::<HostSet>(set_id).ok())
            .flat_map(|set| {
                let hosts = set.host_ids.iter();
                let hosts = hosts.filter_map(|host| self.existing_as::<Host>(host).ok());
                hosts.map(move |host| (host, set.id.as_str()))
            })
            .collect();
        match wanted {
            Some(wanted) => candidates
                .into_iter()
                .find(|(host, _)| host.id == wanted)
                .ok_or_else(|| {
                    ResourceError::invalid(
                        "host_id",
                        format!(
                            "host {wanted} is not in any host set of target {}",
                            target.id
                        ),
                    )
                }),
            None => candidates
                .choose(&mut rand::thread_rng())
                .copied()
                .ok_or_else(|| {
                    ResourceError::invalid(
                        "host_source_ids",
                        format!(
                            "target {} has no address and no hosts in its host sources",
                            target.id
                        ),
                    )
                }),
        }
    }
}
