//! A host application that runs untrusted payment-limit plugins in an xbpf sandbox: it
//! defines its own hook (context layout and a host helper), verifies each plugin against that
//! hook, then runs it once per event. Used by `main.rs` and by the crate's tests.

use std::sync::Arc;
use xbpf::program_types::host_hook;
use xbpf::runtime::{ProgramId, Runtime, RuntimeConfig};
use xbpf::verifier::{ArgKind, CtxField, FieldKind, HelperPrototype, RetKind};

/// Id of the host helper `host_limit(user_id) -> u64`.
pub const HOST_LIMIT: u32 = 0x20000;

/// The event a plugin sees (its context): 24 bytes, as `struct event` in plugin.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: u32,
    pub user_id: u32,
    pub amount: u64,
}

impl Event {
    fn to_context(self) -> [u8; 24] {
        let mut ctx = [0u8; 24];
        ctx[0..4].copy_from_slice(&self.kind.to_le_bytes());
        ctx[4..8].copy_from_slice(&self.user_id.to_le_bytes());
        ctx[8..16].copy_from_slice(&self.amount.to_le_bytes());
        ctx
    }
}

/// The hook: `kind`, `user_id` and `amount` are read-only, `verdict` is writable, the
/// reserved word is off limits. Plugins may use maps and the host's helper.
pub fn payment_hook() -> xbpf::verifier::ProgramType {
    let field = |offset, size, writable| CtxField {
        offset,
        size,
        kind: FieldKind::Data { writable },
    };
    let mut hook = host_hook(
        "payments",
        24,
        vec![field(0, 16, false), field(16, 4, true)],
        &[1, 2, 3],
    );
    hook.helpers.insert(
        HOST_LIMIT as i32,
        HelperPrototype::new("host_limit", &[ArgKind::Number], RetKind::Integer),
    );
    hook
}

/// A sandbox with one verified plugin.
pub struct Sandbox {
    runtime: Runtime,
    program: ProgramId,
    spent_map: u32,
}

impl Sandbox {
    /// Loads and verifies a plugin object; `limit` answers `host_limit`.
    pub fn new(
        object: &[u8],
        limit: impl Fn(u32) -> u64 + Send + Sync + 'static,
    ) -> Result<Sandbox, Box<dyn std::error::Error>> {
        let config = RuntimeConfig {
            fuel: Some(100_000),
            ..RuntimeConfig::default()
        };
        let engine = xbpf::engines::all_engines()
            .pop()
            .ok_or("no execution engine")?;
        let mut runtime = Runtime::with_config(engine, config);
        let limit = Arc::new(limit);
        runtime.register_helper(HOST_LIMIT, "host_limit", move |_, args| {
            Ok(limit(args[0] as u32))
        });
        let loaded = runtime.load_elf(object)?;
        let program =
            runtime.load_program_verified(&loaded, "payments", "check_payment", &payment_hook())?;
        let spent_map = loaded
            .map_id("spent")
            .ok_or("the plugin has no `spent` map")?;
        Ok(Sandbox {
            runtime,
            program,
            spent_map,
        })
    }

    /// Runs the plugin on one event; returns its verdict (0 not a payment, 1 allow, 2 deny)
    /// as written into the context, and checks it agrees with r0.
    pub fn check(&self, event: Event) -> Result<u32, Box<dyn std::error::Error>> {
        let mut ctx = event.to_context();
        let r0 = self.runtime.run(self.program, &mut ctx)?;
        let verdict = u32::from_le_bytes(ctx[16..20].try_into()?);
        if u64::from(verdict) != r0 {
            return Err(format!("verdict {verdict} but r0 {r0}").into());
        }
        Ok(verdict)
    }

    /// What the plugin recorded as spent by `user`.
    pub fn spent(&self, user: u32) -> Option<u64> {
        let value = self
            .runtime
            .map(self.spent_map)
            .ok()?
            .lookup(&user.to_le_bytes())
            .ok()?;
        Some(u64::from_le_bytes(value.try_into().ok()?))
    }
}
