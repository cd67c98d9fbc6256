//! Defaults that are not a plain builder setting: an embedded server's,
//! and beside them the standalone server's (`serve`) where it differs.

/// How many connections an embedded server keeps open at most, by default.
pub(crate) const MAX_CONNECTIONS: usize = 4096;

/// The standalone server's defaults, where they differ from an embedded
/// server's: the reference's address and chaos, and a connection cap that
/// follows the process's file limit.
#[cfg(feature = "cli")]
pub(crate) mod serve {
    /// The host to listen on (the reference's).
    pub(crate) const HOST: &str = "localhost";
    /// The variable that supplies the host (the reference's).
    pub(crate) const HOST_ENV: &str = "HTTP_HOST";
    /// The port to listen on (the reference's).
    pub(crate) const PORT: u16 = 3000;
    /// The variable that supplies the port (the reference's).
    pub(crate) const PORT_ENV: &str = "PORT";
    /// The fault plan's preset (the reference's own chaos).
    pub(crate) const CHAOS: &str = "reference";

    /// The file descriptors a process keeps for other things than
    /// connections (the listener, the standard streams, log files, the
    /// runtime's own).
    const FILES_BESIDE_CONNECTIONS: u64 = 64;

    /// The fewest and the most connections a cap that follows the file
    /// limit allows.
    const FILE_LIMITED_CAP: (usize, usize) = (64, 65_536);

    /// The connection cap for a process that may open `open_files` files
    /// (its soft `RLIMIT_NOFILE`, once raised as Go does): all of them but
    /// a margin, clamped to 64..=65,536; the embedded default where there
    /// is no such limit.
    pub(crate) fn max_connections(open_files: Option<u64>) -> usize {
        let Some(open_files) = open_files else {
            return super::MAX_CONNECTIONS;
        };
        let (fewest, most) = FILE_LIMITED_CAP;
        let room = open_files.saturating_sub(FILES_BESIDE_CONNECTIONS);
        usize::try_from(room).unwrap_or(most).clamp(fewest, most)
    }
}
