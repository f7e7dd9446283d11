//! Serde helpers shared by the reports that print as JSON.

use std::time::Duration;

/// Serializes a duration as fractional seconds (`1.25`), the unit every `--json` report uses.
pub fn duration_as_seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64())
}
