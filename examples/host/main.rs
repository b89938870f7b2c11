//! Embedding example: a host that uses xbpf as a plugin sandbox with its own hook.
//!
//! Run with `cargo run --example host`. The plugin is `plugin.c`, built into `plugin.o` by
//! `examples/c/build.sh`.

mod sandbox;

use sandbox::{Event, Sandbox};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let object = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/host/plugin.o"
    ))?;
    let sandbox = Sandbox::new(&object, |user| u64::from(user) * 100)?;
    let events = [
        Event {
            kind: 1,
            user_id: 1,
            amount: 60,
        },
        Event {
            kind: 1,
            user_id: 1,
            amount: 30,
        },
        Event {
            kind: 1,
            user_id: 1,
            amount: 20,
        },
        Event {
            kind: 0,
            user_id: 1,
            amount: 999,
        },
        Event {
            kind: 1,
            user_id: 2,
            amount: 150,
        },
    ];
    for event in events {
        let verdict = match sandbox.check(event)? {
            1 => "allow",
            2 => "deny",
            _ => "ignored",
        };
        println!(
            "user {} kind {} amount {:>4}: {verdict}",
            event.user_id, event.kind, event.amount
        );
    }
    for user in [1, 2] {
        println!("user {user} spent {}", sandbox.spent(user).unwrap_or(0));
    }
    Ok(())
}
