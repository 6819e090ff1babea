//! The resource store conformance suite (`resources::conformance`) on the in-memory
//! resources of `postern dev`.

use std::sync::Arc;

use postern_controller::resources::conformance::Open;
use postern_controller::resources::{DevSeed, ResourceError, ResourceStore, Resources};
use postern_controller::sessions::Clock;

struct Memory;

#[async_trait::async_trait]
impl Open for Memory {
    async fn open(
        &self,
        seed: &DevSeed,
        clock: Clock,
    ) -> Result<Arc<dyn ResourceStore>, ResourceError> {
        Ok(Arc::new(Resources::memory_dev(seed, clock).await?))
    }
}

postern_controller::resource_store_conformance!(Memory);
