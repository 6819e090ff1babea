//! Log lines on stderr: text (coloured only on a terminal, never with NO_COLOR) or JSON,
//! filtered by `POSTERN_LOG`, else by `postern server`'s `log_level`, else at a default. The
//! filter can be replaced while the process runs (`postern server` on SIGHUP).

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// The environment variable whose filter wins over every other.
const FILTER_VARIABLE: &str = "POSTERN_LOG";

/// Changes the running log filter.
pub struct LogControl {
    reload: Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync>,
    /// `POSTERN_LOG` is set: it keeps the last word.
    from_environment: bool,
}

impl std::fmt::Debug for LogControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogControl")
            .field("from_environment", &self.from_environment)
            .finish_non_exhaustive()
    }
}

/// Checks `level` (tracing's filter directives: `info`, `warn,postern_worker=debug`).
pub fn parse_level(level: &str) -> Result<EnvFilter, String> {
    EnvFilter::try_new(level).map_err(|e| format!("{level:?} is not a log filter: {e}"))
}

/// What a change of the log level did.
#[derive(Debug, PartialEq, Eq)]
pub enum LevelChange {
    Applied,
    /// `POSTERN_LOG` is set and stays in force.
    Overridden,
}

impl LogControl {
    /// A control that changes nothing but records each level set, for tests.
    #[cfg(test)]
    pub fn recording(levels: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Self {
        Self {
            reload: Box::new(move |filter| {
                levels
                    .lock()
                    .map_err(|e| e.to_string())?
                    .push(filter.to_string());
                Ok(())
            }),
            from_environment: false,
        }
    }

    /// Filters from now on at `level` (checked with [`parse_level`]), unless `POSTERN_LOG`
    /// is set.
    pub fn set_level(&self, level: &str) -> Result<LevelChange, String> {
        if self.from_environment {
            return Ok(LevelChange::Overridden);
        }
        (self.reload)(parse_level(level)?)?;
        Ok(LevelChange::Applied)
    }
}

/// Starts logging. `level` is the filter when `POSTERN_LOG` is unset (a bad one falls back to
/// `default`, which callers avoid by checking it with [`parse_level`] first).
pub fn init(format: LogFormat, level: Option<&str>, default: &str) -> LogControl {
    let from_environment = std::env::var_os(FILTER_VARIABLE).is_some();
    let filter = EnvFilter::try_from_env(FILTER_VARIABLE)
        .or_else(|_| parse_level(level.unwrap_or(default)))
        .unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let reload: Box<dyn Fn(EnvFilter) -> Result<(), String> + Send + Sync> = match format {
        LogFormat::Json => {
            let logs = logs.json().with_current_span(true).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string()))
        }
        LogFormat::Text => {
            // Escapes only where a terminal shows them as colour (https://no-color.org).
            use std::io::IsTerminal;
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let logs = logs.with_ansi(colour).with_filter_reloading();
            let handle = logs.reload_handle();
            logs.init();
            Box::new(move |filter| handle.reload(filter).map_err(|e| e.to_string()))
        }
    };
    LogControl {
        reload,
        from_environment,
    }
}
