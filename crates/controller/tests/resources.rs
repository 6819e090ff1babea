//! The resource store conformance suite (`resources::conformance`) on `MemoryStore`, the store
//! of `postern dev`.

use std::sync::Arc;

use postern_controller::resources::conformance::Open;
use postern_controller::resources::{DevSeed, MemoryStore, ResourceError, ResourceStore};
use postern_controller::sessions::Clock;

struct Memory;

#[async_trait::async_trait]
impl Open for Memory {
    async fn open(
        &self,
        seed: &DevSeed,
        clock: Clock,
    ) -> Result<Arc<dyn ResourceStore>, ResourceError> {
        Ok(Arc::new(MemoryStore::dev_with_clock(seed, clock)?))
    }
}

postern_controller::resource_store_conformance!(Memory);
