pub mod spec;

pub use spec::{MapOrigin, MapSpec, MapType, SlotTarget};
