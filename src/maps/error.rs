//! Why a map operation failed, with the errno Linux helpers return for it.

/// A failed map operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("no such element")]
    NotFound,
    #[error("the element already exists")]
    Exists,
    #[error("the map is full")]
    Full,
    #[error("{what} is {found} bytes, the map expects {expected}")]
    WrongSize {
        what: &'static str,
        expected: usize,
        found: usize,
    },
    #[error("index {index} is outside the map ({max_entries} entries)")]
    IndexOutOfRange { index: u32, max_entries: u32 },
    #[error("invalid flags {0:#x}")]
    InvalidFlags(u64),
    #[error("{0} is not supported by this map type")]
    Unsupported(&'static str),
    #[error("invalid map definition `{name}`: {reason}")]
    InvalidDefinition { name: String, reason: String },
    #[error("map `{name}` needs {bytes} bytes, more than the limit of {limit}")]
    TooLarge {
        name: String,
        bytes: u64,
        limit: u64,
    },
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
            MapError::TooLarge { .. } => -12,
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
