//! The example C programs (examples/c, built by clang) run through the embedding API with the
//! results and map contents their sources imply.

use std::sync::{Arc, Mutex};
use xbpf::helpers::HostInfo;
use xbpf::maps::cpu::default_cpus;
use xbpf::runtime::Runtime;

fn object(name: &str) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/c/");
    std::fs::read(format!("{path}{name}")).unwrap()
}

fn runtime_with_trace() -> (Runtime, Arc<Mutex<Vec<String>>>) {
    let mut runtime = Runtime::new(Box::new(xbpf::interp::Interpreter));
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let mut host = HostInfo::new(default_cpus());
    host.trace = Arc::new(move |line| sink.lock().unwrap().push(line.to_owned()));
    runtime.set_host_info(host);
    (runtime, lines)
}

fn u64_le(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().unwrap())
}

#[test]
fn maps_and_globals() {
    let (runtime, trace) = runtime_with_trace();
    let object = runtime.load_elf(&object("maps_globals.o")).unwrap();
    let program = runtime
        .load_program(&object, "xbpf", "count_bytes")
        .unwrap();
    let input = [1u8, 2, 3, 4, 5, 6, 7, 1];
    let weights = [1u64, 2, 3, 4];
    let expected: u64 = input
        .iter()
        .map(|&b| u64::from(b) * 3 + weights[usize::from(b & 3)])
        .sum();
    for run in 1..=2u64 {
        let mut ctx = input;
        let r0 = runtime.run(program, &mut ctx).unwrap();
        assert_eq!(r0, expected & 0xffff);
        assert_eq!(
            trace.lock().unwrap().last().unwrap(),
            &format!("run {run}: sum {expected}\n")
        );
    }
    let counts = runtime.map(object.map_id("byte_counts").unwrap()).unwrap();
    let entries: Vec<(u32, u64)> = counts
        .entries()
        .iter()
        .map(|(k, v)| (u32::from_le_bytes(k[..4].try_into().unwrap()), u64_le(v)))
        .collect();
    assert_eq!(
        entries,
        vec![(1, 4), (2, 2), (3, 2), (4, 2), (5, 2), (6, 2), (7, 2)]
    );
    let totals = runtime.map(object.map_id("totals").unwrap()).unwrap();
    assert_eq!(
        u64_le(&totals.lookup(&0u32.to_le_bytes()).unwrap()),
        2 * expected
    );
    let bss = runtime.map(object.map_id(".bss").unwrap()).unwrap();
    assert_eq!(u64_le(&bss.lookup(&0u32.to_le_bytes()).unwrap()), 2);
}

#[test]
fn tail_calls_chain_through_the_program_array() {
    let (runtime, _) = runtime_with_trace();
    let object = runtime.load_elf(&object("tail_calls.o")).unwrap();
    let program = runtime.load_program(&object, "xbpf", "dispatch").unwrap();
    assert_eq!(runtime.run(program, &mut [0u8, 2]).unwrap(), 42);
    assert_eq!(runtime.run(program, &mut [2u8, 5]).unwrap(), 45);
    assert_eq!(
        runtime.run(program, &mut [3u8, 5]).unwrap(),
        1,
        "empty slot"
    );
    let visits = runtime.map(object.map_id("visits").unwrap()).unwrap();
    let counts: Vec<u64> = (0..4u32)
        .map(|i| u64_le(&visits.lookup(&i.to_le_bytes()).unwrap()))
        .collect();
    assert_eq!(counts, vec![1, 1, 2, 3]);
}

#[test]
fn loop_callbacks_ring_buffer_queue_and_per_cpu_values() {
    let (runtime, _) = runtime_with_trace();
    let object = runtime.load_elf(&object("loop_ringbuf.o")).unwrap();
    let program = runtime
        .load_program(&object, "xbpf", "sum_squares")
        .unwrap();
    // limit 5: squares 0, 1, 4, 9, 16; the queue's oldest is 0
    let r0 = runtime.run(program, &mut [5u8]).unwrap();
    assert_eq!(r0, 30);
    let events = runtime.map(object.map_id("events").unwrap()).unwrap();
    let mut records = Vec::new();
    events
        .ring()
        .unwrap()
        .consume(|data| records.push(data.to_vec()));
    assert_eq!(records.len(), 1);
    assert_eq!(u64_le(&records[0]), 30);
    let text = &records[0][8..];
    let text = &text[..text.iter().position(|b| *b == 0).unwrap()];
    assert_eq!(text, b"sum=30 n=5");
    let squares = runtime.map(object.map_id("squares").unwrap()).unwrap();
    let left: Vec<Vec<u8>> = squares.entries().into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        left,
        [1u32, 4, 9, 16]
            .iter()
            .map(|v| v.to_le_bytes().to_vec())
            .collect::<Vec<_>>()
    );
    let per_cpu = runtime.map(object.map_id("per_cpu").unwrap()).unwrap();
    let all = per_cpu.lookup(&0u32.to_le_bytes()).unwrap();
    let total: u64 = all.chunks(8).map(u64_le).sum();
    assert_eq!(total, 30);
}

#[test]
fn verified_loading_accepts_safe_programs_and_names_the_source_line_of_unsafe_ones() {
    use xbpf::program_types::{RegsArch, by_name, for_section};
    let (runtime, _) = runtime_with_trace();
    let object = runtime.load_elf(&object("maps_globals.o")).unwrap();
    let hook = by_name("generic:8", RegsArch::X86_64).unwrap();
    let program = runtime
        .load_program_verified(&object, "xbpf", "count_bytes", &hook)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runtime.run(program, &mut [0u8; 8]).unwrap(), 8);

    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/verifier-corpus/");
    let bytes = std::fs::read(format!("{corpus}build/wronghelper.o")).expect("the corpus");
    let object = runtime.load_elf(&bytes).unwrap();
    let program = &object.elf().programs()[0];
    let ty = for_section(&program.section, RegsArch::X86_64).expect("an xdp program");
    let error = runtime
        .load_program_verified(
            &object,
            &program.section.clone(),
            &program.function.clone(),
            &ty,
        )
        .unwrap_err();
    let message = error.to_string();
    assert!(message.contains("verifier rejected"), "{message}");
    assert!(message.contains("wronghelper.c"), "{message}");
}

/// An Ethernet + IPv4 + UDP frame to `port`, protocol `protocol`.
fn frame(protocol: u8, port: u16) -> Vec<u8> {
    let mut packet = vec![0u8; 14 + 20 + 8];
    packet[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    packet[14] = 0x45;
    packet[14 + 9] = protocol;
    packet[34 + 2..34 + 4].copy_from_slice(&port.to_be_bytes());
    packet
}

#[test]
fn xdp_programs_read_real_packet_pointers_from_their_u32_fields() {
    use xbpf::program_types::{RegsArch, for_section};
    for engine in xbpf::engines::all_engines() {
        let runtime = Runtime::new(engine);
        let object = runtime.load_elf(&object("xdp_filter.o")).unwrap();
        let xdp = for_section("xdp", RegsArch::X86_64).unwrap();
        let program = runtime
            .load_program_verified(&object, "xdp", "xdp_filter", &xdp)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ctx = [0u8; 24];
        let cases = [
            (frame(17, 53), 1, "UDP to 53 is dropped"),
            (frame(17, 80), 2, "other UDP passes"),
            (frame(6, 53), 2, "TCP passes"),
            (frame(17, 53)[..20].to_vec(), 0, "truncated frames abort"),
        ];
        for (mut packet, verdict, why) in cases {
            assert_eq!(
                runtime.run_packet(program, &mut ctx, &mut packet).unwrap(),
                verdict,
                "{why}"
            );
        }
        let counts = runtime.map(object.map_id("protocols").unwrap()).unwrap();
        let count = |protocol: u32| u64_le(&counts.lookup(&protocol.to_le_bytes()).unwrap());
        assert_eq!((count(17), count(6)), (2, 1));
        let shadow = runtime.context_shadow(program).unwrap();
        assert_eq!((shadow.ctx_size, shadow.total), (24, 48));
    }
}
