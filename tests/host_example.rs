//! The embedding example (examples/host) works: its plugin passes the verifier against the
//! host's hook and enforces the limits the host helper reports.

#[path = "../examples/host/sandbox.rs"]
mod sandbox;

use sandbox::{Event, Sandbox};

fn plugin() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/host/plugin.o"
    ))
    .unwrap()
}

#[test]
fn the_plugin_enforces_limits_from_the_host_helper() {
    let sandbox = Sandbox::new(&plugin(), |user| u64::from(user) * 100).unwrap();
    let pay = |user_id, amount| Event {
        kind: 1,
        user_id,
        amount,
    };
    assert_eq!(sandbox.check(pay(1, 60)).unwrap(), 1);
    assert_eq!(sandbox.check(pay(1, 30)).unwrap(), 1);
    assert_eq!(
        sandbox.check(pay(1, 20)).unwrap(),
        2,
        "110 is over the limit of 100"
    );
    assert_eq!(
        sandbox
            .check(Event {
                kind: 0,
                user_id: 1,
                amount: 5
            })
            .unwrap(),
        0
    );
    assert_eq!(sandbox.check(pay(2, 150)).unwrap(), 1);
    assert_eq!(sandbox.spent(1), Some(90));
    assert_eq!(sandbox.spent(2), Some(150));
    assert_eq!(sandbox.spent(3), None);
}

#[test]
fn the_hook_rejects_plugins_that_break_its_rules() {
    // The payments hook makes `kind` read-only: a program that writes it fails verification.
    let program =
        xbpf::isa::Program::new(xbpf::isa::assemble("stw [%r1+0], 7\nmov %r0, 0\nexit\n").unwrap())
            .unwrap();
    let rejection = xbpf::verifier::verify(
        &program,
        &sandbox::payment_hook(),
        &[],
        &xbpf::verifier::VerifierConfig::default(),
    )
    .unwrap_err();
    assert_eq!(rejection.pc, 0);
}
