//! Why a grant string was refused, said as Boundary says it, plus where.

/// Why a grant string was refused.
///
/// `message` is Boundary's own message without its error-package decoration (no
/// `perms.Parse:`-style op names, no `: parameter violation: error #100`); `position` is the
/// 1-based character index where `token`, the offending piece of the grant string as written,
/// starts. For a fault of the grant as a whole it points at the most relevant piece (the
/// `*` id of a wildcard grant without a type, the `type` value of a misplaced type, …), or at
/// the whole string when nothing narrower fits. An empty token at one past the end means
/// "something is missing here".
///
/// [`boundary_text`](Self::boundary_text) gives the full text Boundary's API would show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at character {position}, {token:?}: {message}")]
pub struct GrantError {
    pub position: usize,
    pub token: String,
    pub message: String,
    /// Which step of Boundary's parse refused it; decides the decoration of
    /// [`boundary_text`](Self::boundary_text).
    pub stage: Stage,
}

/// The step of Boundary's `perms.Parse` an error comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `perms.Parse` itself, before or after the form-specific parse.
    Parse,
    /// The text form's `unmarshalText`.
    Text,
    /// The JSON form's `unmarshalJSON`, on a well-formed JSON document.
    Json,
    /// The JSON decoder: the document is not JSON. The message is serde_json's, not Go's
    /// (see `boundary_text`'s `error #303`).
    JsonSyntax,
    /// `validateType` (the `controller` type).
    Type,
    /// `parseAndValidateActions`.
    Actions,
}

impl GrantError {
    /// The error as Boundary's `perms.Parse` words it, e.g.
    /// `perms.Parse: perms.(Grant).parseAndValidateActions: unknown action "raed": parameter violation: error #100`.
    pub fn boundary_text(&self) -> String {
        const SUFFIX: &str = ": parameter violation: error #100";
        let m = &self.message;
        match self.stage {
            Stage::Parse => format!("perms.Parse: {m}{SUFFIX}"),
            Stage::Text => format!(
                "perms.Parse: unable to parse grant string: perms.(Grant).unmarshalText: {m}{SUFFIX}"
            ),
            Stage::Json => format!(
                "perms.Parse: unable to parse JSON grant string: perms.(Grant).unmarshalJSON: {m}{SUFFIX}"
            ),
            Stage::JsonSyntax => format!(
                "perms.Parse: unable to parse JSON grant string: perms.(Grant).unmarshalJSON: error occurred during decode, encoding issue: error #303: {m}"
            ),
            Stage::Type => format!("perms.Parse: perms.(Grant).validateType: {m}{SUFFIX}"),
            Stage::Actions => {
                format!("perms.Parse: perms.(Grant).parseAndValidateActions: {m}{SUFFIX}")
            }
        }
    }

    /// Builds an error at byte offset `at` of `raw`.
    pub(crate) fn at(raw: &str, at: usize, token: &str, stage: Stage, message: String) -> Self {
        let at = at.min(raw.len());
        // Byte offsets come from our own slicing, so they sit on char boundaries; be lenient
        // anyway rather than panic in an error path.
        let before = raw.get(..at).map_or(at, |s| s.chars().count());
        GrantError {
            position: before + 1,
            token: token.to_owned(),
            message,
            stage,
        }
    }
}
