//! The session lifecycle conformance suite (`sessions::conformance`) on `MemorySessions`, the
//! records of `postern dev`.

use std::sync::Arc;

use postern_controller::sessions::conformance::Open;
use postern_controller::sessions::{MemorySessions, SessionError, SessionRecords};

struct Memory;

#[async_trait::async_trait]
impl Open for Memory {
    async fn open(&self) -> Result<Arc<dyn SessionRecords>, SessionError> {
        Ok(Arc::new(MemorySessions::new()))
    }
}

postern_controller::session_records_conformance!(Memory);
