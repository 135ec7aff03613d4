//! The one error of the work commands. Every message names the field or the id it is about,
//! so the command line prints it as is (and exits 1 with nothing written) and the HTTP API
//! answers it as a `400` or `404` with the field attached.

use super::task::{Status, Via, describe_moves};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkError {
    /// The id names no task on the board.
    #[error("unknown task {0}")]
    UnknownTask(String),
    /// The id names no agent in the configuration, or one that is not watched.
    #[error("unknown agent {0:?}: it is not an Agent of the desired state")]
    UnknownAgent(String),
    /// An argument is missing, empty, too long, out of range or not a known value. `field` is
    /// spelled as on the command line (`--owner`, `TEXT`).
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// The lifecycle of SPEC section 8 does not allow the move.
    #[error("task {id} is {from}; {}", describe_moves(*from, moves))]
    Refused { id: String, from: Status, moves: Vec<(Status, Via)> },
}

impl WorkError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> WorkError {
        WorkError::Invalid { field, message: message.into() }
    }

    /// The argument at fault as an API field name (`expected_output`), when there is one.
    pub fn field(&self) -> Option<String> {
        match self {
            WorkError::Invalid { field, .. } => {
                Some(field.trim_start_matches('-').to_ascii_lowercase().replace('-', "_"))
            }
            WorkError::UnknownTask(_) | WorkError::UnknownAgent(_) | WorkError::Refused { .. } => None,
        }
    }

    /// Whether the error is about something that does not exist (an HTTP `404`).
    pub fn is_not_found(&self) -> bool {
        matches!(self, WorkError::UnknownTask(_) | WorkError::UnknownAgent(_))
    }
}
