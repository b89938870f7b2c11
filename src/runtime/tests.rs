use super::*;
use crate::maps::{BPF_ANY, MapSpec, MapType};

fn runtime() -> Runtime {
    Runtime::new(Box::new(xbpf_interp::Interpreter))
}

/// Assembles `source`, then turns the `lddw`s at the given pcs into map-by-index references.
fn asm(source: &str, map_refs: &[(usize, i32)]) -> Vec<Insn> {
    let mut insns = xbpf_isa::assemble(source).unwrap();
    for &(pc, index) in map_refs {
        insns[pc].src = 5;
        insns[pc].imm = index;
    }
    insns
}

#[test]
fn unknown_helpers_are_load_errors_naming_the_linux_helper() {
    let error = runtime().load_asm("call 9\nexit\n", &[]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "instruction 0: helper 9 (bpf_skb_store_bytes) is not available in this runtime"
    );
}

#[test]
fn host_helpers_extend_and_replace_builtins() {
    let mut runtime = runtime();
    runtime.register_helper(0x1000, "host_double", |_, args| Ok(args[0] * 2));
    let program = runtime
        .load_asm("mov %r1, 21\ncall 4096\nexit\n", &[])
        .unwrap();
    assert_eq!(runtime.run(program, &mut []).unwrap(), 42);
}

/// A program that counts its runs in an array map and tail-calls itself: the chain stops
/// after 33 tail calls, as in Linux.
#[test]
fn tail_call_chains_stop_after_33() {
    let runtime = runtime();
    let counter = runtime
        .create_map(&MapSpec::new("count", MapType::Array, 4, 8, 1))
        .unwrap();
    let programs = runtime
        .create_map(&MapSpec::new("progs", MapType::ProgArray, 4, 4, 1))
        .unwrap();
    let source = "
        mov %r6, %r1
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, 0
        call 1
        jeq %r0, 0, +10
        ldxdw %r1, [%r0]
        add %r1, 1
        stxdw [%r0], %r1
        mov %r1, %r6
        lddw %r2, 0
        mov %r3, 0
        call 12
        mov %r0, 7
        exit
        mov %r0, 9
        exit
    ";
    let program = runtime
        .load_insns(&asm(source, &[(4, 0), (12, 1)]), &[counter, programs])
        .unwrap();
    runtime.set_program_slot(programs, 0, program).unwrap();
    assert_eq!(runtime.run(program, &mut []).unwrap(), 7);
    let count = runtime
        .map(counter)
        .unwrap()
        .lookup(&0u32.to_le_bytes())
        .unwrap();
    assert_eq!(u64::from_le_bytes(count.try_into().unwrap()), 34);
}

#[test]
fn probe_reads_of_unreadable_memory_zero_the_buffer_and_fail() {
    let runtime = runtime();
    let source = "
        stdw [%r10-8], -1
        mov %r1, %r10
        add %r1, -8
        mov %r2, 8
        mov %r3, 4096
        call 4
        mov32 %r0, %r0
        ldxdw %r1, [%r10-8]
        lsh %r1, 32
        or %r0, %r1
        exit
    ";
    let program = runtime.load_asm(source, &[]).unwrap();
    let r0 = runtime.run(program, &mut []).unwrap();
    assert_eq!(r0 as u32 as i32, -14, "-EFAULT");
    assert_eq!(r0 >> 32, 0, "destination zeroed");
}

#[test]
fn probe_reads_see_host_declared_memory() {
    let runtime = runtime();
    let secret: &'static [u8] = b"host data\0";
    // SAFETY: a static byte string lives for the whole program.
    unsafe {
        runtime.add_probe_region(Region {
            start: secret.as_ptr() as u64,
            len: secret.len() as u64,
            writable: false,
        })
    };
    let source = format!(
        "mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\nlddw %r3, {:#x}\ncall 45\nexit\n",
        secret.as_ptr() as u64
    );
    let program = runtime.load_asm(&source, &[]).unwrap();
    assert_eq!(
        runtime.run(program, &mut []).unwrap(),
        10,
        "length with the NUL"
    );
}

#[test]
fn map_handles_are_not_memory() {
    let runtime = runtime();
    let map = runtime
        .create_map(&MapSpec::new("m", MapType::Array, 4, 8, 1))
        .unwrap();
    let program = runtime
        .load_insns(
            &asm("lddw %r1, 0\nldxdw %r0, [%r1]\nexit\n", &[(0, 0)]),
            &[map],
        )
        .unwrap();
    let error = runtime.run(program, &mut []).unwrap_err();
    assert!(
        matches!(
            error,
            RuntimeError::Exec(ExecError::OutOfBounds { pc: 2, .. })
        ),
        "{error}"
    );
}

#[test]
fn map_values_are_shared_with_the_host() {
    let runtime = runtime();
    let map = runtime
        .create_map(&MapSpec::new("m", MapType::Hash, 4, 8, 4))
        .unwrap();
    runtime
        .map(map)
        .unwrap()
        .update(&5u32.to_le_bytes(), &40u64.to_le_bytes(), BPF_ANY)
        .unwrap();
    let source = "
        stw [%r10-4], 5
        mov %r2, %r10
        add %r2, -4
        lddw %r1, 0
        call 1
        jne %r0, 0, +1
        exit
        ldxdw %r1, [%r0]
        add %r1, 2
        stxdw [%r0], %r1
        mov %r0, %r1
        exit
    ";
    let program = runtime.load_insns(&asm(source, &[(3, 0)]), &[map]).unwrap();
    assert_eq!(runtime.run(program, &mut []).unwrap(), 42);
    let value = runtime
        .map(map)
        .unwrap()
        .lookup(&5u32.to_le_bytes())
        .unwrap();
    assert_eq!(value, 42u64.to_le_bytes());
}

#[test]
fn packet_pointers_are_filled_into_the_context() {
    let runtime = runtime();
    // r0 = data_end - data, read from a 16-byte context with 8-byte pointer fields
    let source = "ldxdw %r2, [%r1+0]\nldxdw %r3, [%r1+8]\nmov %r0, %r3\nsub %r0, %r2\nexit\n";
    let program = runtime.load_asm(source, &[]).unwrap();
    let mut ctx = [0u8; 16];
    let mut packet = [0u8; 60];
    let fields = PacketFields {
        data: 0,
        data_end: 8,
        data_meta: None,
        width: 8,
    };
    let r0 = runtime
        .run_with_packet(program, &mut ctx, Some(&mut packet), Some(fields))
        .unwrap();
    assert_eq!(r0, 60);
    let bad = PacketFields {
        data_end: 12,
        ..fields
    };
    assert!(matches!(
        runtime.run_with_packet(program, &mut ctx, Some(&mut packet), Some(bad)),
        Err(RuntimeError::PacketField { offset: 12 })
    ));
}

/// Two preparations of one program run at once on two threads, sharing a map: atomic adds
/// from both land in the same value.
#[test]
fn programs_share_maps_across_threads() {
    let runtime = runtime();
    let map = runtime
        .create_map(&MapSpec::new("total", MapType::Array, 4, 8, 1))
        .unwrap();
    let source = "
        stw [%r10-4], 0
        mov %r2, %r10
        add %r2, -4
        lddw %r1, 0
        call 1
        jeq %r0, 0, +2
        mov %r1, 1
        lock add [%r0], %r1
        mov %r0, 0
        exit
    ";
    let insns = asm(source, &[(3, 0)]);
    let programs = [
        runtime.load_insns(&insns, &[map]).unwrap(),
        runtime.load_insns(&insns, &[map]).unwrap(),
    ];
    std::thread::scope(|scope| {
        for program in programs {
            let runtime = &runtime;
            scope.spawn(move || {
                for _ in 0..1000 {
                    runtime.run(program, &mut []).unwrap();
                }
            });
        }
    });
    let value = runtime
        .map(map)
        .unwrap()
        .lookup(&0u32.to_le_bytes())
        .unwrap();
    assert_eq!(u64::from_le_bytes(value.try_into().unwrap()), 2000);
}

#[test]
fn redirect_map_redirects_to_entries_the_host_set() {
    use crate::helpers::redirect::{Redirect, take_redirect};
    let runtime = runtime();
    let devmap = runtime
        .create_map(&MapSpec::new("tx_port", MapType::Devmap, 4, 4, 8))
        .unwrap();
    runtime
        .map(devmap)
        .unwrap()
        .update(&3u32.to_le_bytes(), &9u32.to_le_bytes(), BPF_ANY)
        .unwrap();
    let source = "lddw %r1, 0\nldxw %r2, [%r1+0]\nmov %r3, 2\ncall 51\nexit\n";
    // r2 = the key, read from the context (the lddw is patched to the map, r1 reloaded first)
    let source = source.replace("ldxw %r2, [%r1+0]", "ldxw %r2, [%r6+0]");
    let source = format!("mov %r6, %r1\n{source}");
    let program = runtime
        .load_insns(&asm(&source, &[(1, 0)]), &[devmap])
        .unwrap();
    assert_eq!(runtime.run(program, &mut 3u32.to_le_bytes()).unwrap(), 4);
    assert_eq!(
        take_redirect(),
        Some(Redirect {
            map: devmap,
            key: 3
        })
    );
    assert_eq!(
        runtime.run(program, &mut 5u32.to_le_bytes()).unwrap(),
        2,
        "XDP_PASS"
    );
    assert_eq!(take_redirect(), None);
}
