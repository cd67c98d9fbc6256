//! `serve`'s open-file limit, raised at start as Go's runtime raises its
//! own: the soft `RLIMIT_NOFILE` up to the hard one, so that connections
//! are bounded by the server's cap rather than by a low default (1,024 on
//! many systems). Only the standalone server does this; an embedded server
//! leaves its host process's limits alone.

/// macOS refuses a soft file limit above `OPEN_MAX` (10,240) when the hard
/// one is unlimited; Go falls back to it there too.
#[cfg(unix)]
const OPEN_MAX: u64 = 10_240;

/// Raises the soft open-file limit to the hard one (or as near as the
/// system allows) and returns the soft limit in force afterwards (`u64::MAX`
/// if unlimited); `None` where there is no such limit to read.
#[cfg(unix)]
pub(super) fn raise_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    let limit = getrlimit(Resource::Nofile);
    // `None` is unlimited.
    let soft = limit.current.unwrap_or(u64::MAX);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    for target in [hard, OPEN_MAX] {
        if target <= soft {
            continue;
        }
        let raised = Rlimit {
            current: (target != u64::MAX).then_some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::debug!(from = soft, to = target, "raised the open-file limit");
                return Some(target);
            }
            Err(e) => tracing::debug!("cannot raise the open-file limit to {target}: {e}"),
        }
    }
    Some(soft)
}

/// No open-file limit to raise on this system.
#[cfg(not(unix))]
pub(super) fn raise_limit() -> Option<u64> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let before = getrlimit(Resource::Nofile);
        // One below the hard limit (lowering needs no privilege), so that
        // there is something to raise.
        if let Some(hard) = before.maximum.filter(|h| *h > 1) {
            let lowered = Rlimit {
                current: Some(hard - 1),
                maximum: before.maximum,
            };
            setrlimit(Resource::Nofile, lowered).unwrap();
        }
        let raised = super::raise_limit().unwrap();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current.unwrap_or(u64::MAX), raised);
        // Linux allows any soft limit up to the hard one.
        if cfg!(target_os = "linux") {
            assert_eq!(now.current, now.maximum);
        }
    }
}
