//! Why a map operation failed, with the errno Linux helpers return for it.

/// A failed map operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The key is not in the map (or the queue or stack is empty).
    #[error("no such element")]
    NotFound,
    /// An update with `BPF_NOEXIST` of a key that is present.
    #[error("the element already exists")]
    Exists,
    /// The map holds `max_entries` elements already.
    #[error("the map is full")]
    Full,
    /// A key or value buffer of the wrong size.
    #[error("{what} is {found} bytes, the map expects {expected}")]
    WrongSize {
        /// `key` or `value`.
        what: &'static str,
        /// The size the map has.
        expected: usize,
        /// The size given.
        found: usize,
    },
    /// An array index at or past `max_entries`.
    #[error("index {index} is outside the map ({max_entries} entries)")]
    IndexOutOfRange {
        /// The index.
        index: u32,
        /// The map's size.
        max_entries: u32,
    },
    /// Update flags that are not `BPF_ANY`, `BPF_NOEXIST` or `BPF_EXIST` (or not allowed here).
    #[error("invalid flags {0:#x}")]
    InvalidFlags(u64),
    /// An operation the map type does not have (deleting from an array, say).
    #[error("{0} is not supported by this map type")]
    Unsupported(&'static str),
    /// A definition that cannot make a map (zero sizes, say).
    #[error("invalid map definition `{name}`: {reason}")]
    InvalidDefinition {
        /// The map's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A map whose memory would exceed the runtime's limit.
    #[error("map `{name}` needs {bytes} bytes, more than the limit of {limit}")]
    TooLarge {
        /// The map's name.
        name: String,
        /// The memory it needs.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A map that would take the runtime's maps past their total memory limit.
    #[error(
        "map `{name}` needs {bytes} bytes, but maps already hold {in_use} of the runtime's total limit of {limit}"
    )]
    TotalTooLarge {
        /// The map's name.
        name: String,
        /// The memory it would be charged.
        bytes: u64,
        /// What the runtime's maps are charged already.
        in_use: u64,
        /// The runtime's limit for all its maps.
        limit: u64,
    },
    /// A value stored in a map of references (program array, map-in-map) or a record pointer
    /// that names nothing usable; what it should name.
    #[error("the value does not name a usable {0}")]
    BadReference(&'static str),
}

impl MapError {
    /// The negative errno a helper returns for this error (as Linux does).
    pub fn errno(&self) -> i64 {
        match self {
            MapError::NotFound => -2,
            MapError::Exists => -17,
            MapError::Full => -7,
            MapError::Unsupported(_) => -95,
            MapError::TooLarge { .. } | MapError::TotalTooLarge { .. } => -12,
            MapError::WrongSize { .. }
            | MapError::IndexOutOfRange { .. }
            | MapError::InvalidFlags(_)
            | MapError::InvalidDefinition { .. }
            | MapError::BadReference(_) => -22,
        }
    }
}

/// `BPF_ANY`: create or update.
pub const BPF_ANY: u64 = 0;
/// `BPF_NOEXIST`: create only.
pub const BPF_NOEXIST: u64 = 1;
/// `BPF_EXIST`: update only (for queues and stacks: overwrite the oldest when full).
pub const BPF_EXIST: u64 = 2;
/// `BPF_F_LOCK` (accepted and ignored: there are no spin locks in values here).
pub const BPF_F_LOCK: u64 = 4;

/// Checks update flags: one of ANY, NOEXIST, EXIST, optionally with F_LOCK.
pub fn check_update_flags(flags: u64) -> Result<u64, MapError> {
    let mode = flags & !BPF_F_LOCK;
    if mode > BPF_EXIST {
        return Err(MapError::InvalidFlags(flags));
    }
    Ok(mode)
}
