//! The execution engines this build has, by name.

use xbpf_isa::Engine;

/// Names accepted by `--engine` (besides `all` where several engines make sense).
pub fn engine_names() -> Vec<&'static str> {
    all_engines().iter().map(|engine| engine.name()).collect()
}

/// Whether this target has a JIT back end.
pub const HAS_JIT: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// Every engine available on this target, the reference interpreter first.
pub fn all_engines() -> Vec<Box<dyn Engine>> {
    let mut engines: Vec<Box<dyn Engine>> = vec![Box::new(xbpf_interp::Interpreter)];
    if HAS_JIT {
        engines.push(Box::new(xbpf_jit::Jit::new()));
    }
    engines
}

/// The engine with this name.
pub fn engine_by_name(name: &str) -> Option<Box<dyn Engine>> {
    all_engines()
        .into_iter()
        .find(|engine| engine.name() == name)
}
