//! An event's name, when the code gave it one (`info!(name: "cart.abandoned", ..)`): the
//! OpenTelemetry log data model's `EventName`, which both layers write.

use tracing_core::Metadata;

/// The name `meta` was given with `name:`, or `None` when it carries `tracing`'s default,
/// `event <file>:<line>` (or `log event`, the name of events bridged from the `log` crate),
/// which says nothing the file and line don't.
pub(crate) fn given(meta: &Metadata<'_>) -> Option<&'static str> {
    let name = meta.name();
    if name == "log event" {
        return None;
    }
    let Some(rest) = name.strip_prefix("event ") else {
        return Some(name);
    };
    let default = match (meta.file(), meta.line()) {
        (Some(file), Some(line)) => rest
            .strip_prefix(file)
            .and_then(|r| r.strip_prefix(':'))
            .is_some_and(|r| r.parse::<u32>() == Ok(line)),
        // Without a location the macro could not have produced it; a `name:` it is.
        _ => false,
    };
    (!default).then_some(name)
}
