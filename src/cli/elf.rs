//! ELF objects on the command line: `xbpf run` (program selection, maps, `--dump-maps`) and
//! `xbpf disasm` (sections, symbols, relocations, maps and each program's instructions).

use super::{CliError, input_error};
use std::fmt::Write as _;
use std::path::Path;
use xbpf::elf::{ElfObject, ElfProgram};
use xbpf::maps::{Map, MapType};
use xbpf::runtime::{Runtime, RuntimeConfig};

/// Which program of an object to run.
pub struct Selection<'a> {
    pub section: Option<&'a str>,
    pub function: Option<&'a str>,
}

/// The program `selection` names; without a full selection, the only candidate.
pub fn select<'o>(
    object: &'o ElfObject,
    selection: &Selection<'_>,
    path: &Path,
) -> Result<&'o ElfProgram, CliError> {
    let candidates: Vec<&ElfProgram> = object
        .programs()
        .iter()
        .filter(|p| selection.section.is_none_or(|s| p.section == s))
        .filter(|p| selection.function.is_none_or(|f| p.function == f))
        .collect();
    let names = |programs: &[&ElfProgram]| {
        programs
            .iter()
            .map(|p| format!("{}/{}", p.section, p.function))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match candidates.as_slice() {
        [only] => Ok(only),
        [] => Err(CliError::Input(format!(
            "{}: no program matches (the object has: {})",
            path.display(),
            names(&object.programs().iter().collect::<Vec<_>>())
        ))),
        several => {
            // Entry programs outside `.text` are what a bare name usually means.
            let outside_text: Vec<&ElfProgram> = several
                .iter()
                .copied()
                .filter(|p| p.section != ".text")
                .collect();
            if let [only] = outside_text.as_slice() {
                return Ok(only);
            }
            Err(CliError::Input(format!(
                "{}: {} programs match, choose one with --section/--function: {}",
                path.display(),
                several.len(),
                names(several)
            )))
        }
    }
}

/// What `xbpf run` does with an ELF object.
pub struct RunRequest<'a> {
    pub path: &'a Path,
    pub bytes: &'a [u8],
    pub selection: Selection<'a>,
    pub engine: Box<dyn xbpf::isa::Engine>,
    pub fuel: Option<u64>,
    pub memory: Vec<u8>,
    /// Packet data: the program then runs as its section's program type.
    pub packet: Option<Vec<u8>>,
    /// Verify against the section's program type first.
    pub verify: bool,
    pub runs: u64,
    /// Print `runs=N min_ns=… median_ns=…` on stderr (context and packet reset outside the
    /// timed part).
    pub report_timing: bool,
    pub dump_maps: bool,
}

/// Runs a program of an object; prints r0, then the maps as JSON when asked.
pub fn run(request: RunRequest<'_>) -> Result<(), CliError> {
    let config = RuntimeConfig {
        fuel: request.fuel,
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::with_config(request.engine, config);
    let path = request.path;
    let in_file = |e: &dyn std::fmt::Display| CliError::Input(format!("{}: {e}", path.display()));
    let object = runtime.load_elf(request.bytes).map_err(|e| in_file(&e))?;
    let program = select(object.elf(), &request.selection, path)?;
    let typed = request.packet.is_some() || request.verify;
    let program_type = if typed {
        Some(
            xbpf::program_types::for_section(&program.section, host_regs()).ok_or_else(|| {
                CliError::Input(format!(
                    "{}: section `{}` names no known program type (xdp, socket, \
                         classifier, kprobe/, tracepoint/, ...)",
                    path.display(),
                    program.section
                ))
            })?,
        )
    } else {
        None
    };
    let loaded = match &program_type {
        Some(ty) => runtime.load_program_as(
            &object,
            &program.section,
            &program.function,
            ty,
            request.verify,
        ),
        None => runtime.load_program(&object, &program.section, &program.function),
    };
    let id = loaded.map_err(|e| match e {
        xbpf::runtime::RuntimeError::Rejected { .. } => CliError::Failed(e.to_string()),
        other => in_file(&other),
    })?;
    let mut memory = request.memory.clone();
    if let Some(ty) = &program_type
        && memory.len() < ty.context.size as usize
    {
        memory.resize(ty.context.size as usize, 0);
    }
    let mut result = Ok(0);
    let mut times = Vec::new();
    for _ in 0..request.runs {
        let mut ctx = memory.clone();
        let mut packet = request.packet.clone();
        let start = std::time::Instant::now();
        result = match &mut packet {
            Some(packet) => runtime.run_packet(id, &mut ctx, packet),
            None => runtime.run(id, &mut ctx),
        };
        times.push(start.elapsed());
        if result.is_err() {
            break;
        }
    }
    let r0 = result.map_err(|error| {
        let location = match &error {
            xbpf::runtime::RuntimeError::Exec(exec) => program
                .line_at(exec.pc())
                .map(|line| format!(" ({}:{}: {})", line.file, line.line, line.source.trim()))
                .unwrap_or_default(),
            _ => String::new(),
        };
        CliError::Failed(format!("{error}{location}"))
    })?;
    println!("{r0}");
    if request.report_timing {
        eprintln!("{}", super::run::timing_line(&mut times, None));
    }
    if request.dump_maps {
        let maps: Vec<_> = object
            .map_ids()
            .iter()
            .map(|id| runtime.map(*id).map_err(input_error))
            .collect::<Result<_, _>>()?;
        println!("{}", maps_json(&maps));
    }
    Ok(())
}

/// The register layout tracing contexts use on this host.
fn host_regs() -> xbpf::program_types::RegsArch {
    if cfg!(target_arch = "aarch64") {
        xbpf::program_types::RegsArch::Aarch64
    } else {
        xbpf::program_types::RegsArch::X86_64
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The maps as JSON: name, type, sizes and entries (keys and values in hex; per-CPU values
/// are every CPU's copy, each padded to 8 bytes; ring buffer and perf records are consumed).
pub fn maps_json(maps: &[std::sync::Arc<Map>]) -> String {
    let mut out = String::from("{\"maps\": [");
    for (index, map) in maps.iter().enumerate() {
        let spec = map.spec();
        if index > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "\n  {{\"name\": {}, \"type\": {}, \"key_size\": {}, \"value_size\": {}, \
             \"max_entries\": {}, \"cpus\": {}, ",
            json_string(&spec.name),
            json_string(spec.map_type.name()),
            spec.key_size,
            spec.value_size,
            spec.max_entries,
            map.copies(),
        );
        let records: Vec<String> = match spec.map_type {
            MapType::Ringbuf => {
                let mut records = Vec::new();
                if let Some(ring) = map.ring() {
                    ring.consume(|data| records.push(json_string(&hex(data))));
                }
                records
            }
            MapType::PerfEventArray => map
                .drain_perf_records()
                .iter()
                .map(|(cpu, data)| {
                    format!("{{\"cpu\": {cpu}, \"data\": {}}}", json_string(&hex(data)))
                })
                .collect(),
            _ => {
                let entries: Vec<String> = map
                    .entries()
                    .iter()
                    .map(|(key, value)| {
                        format!(
                            "{{\"key\": {}, \"value\": {}}}",
                            json_string(&hex(key)),
                            json_string(&hex(value))
                        )
                    })
                    .collect();
                let _ = write!(out, "\"entries\": [{}]}}", entries.join(", "));
                continue;
            }
        };
        let _ = write!(out, "\"records\": [{}]}}", records.join(", "));
    }
    out.push_str("\n]}");
    out
}

/// `xbpf disasm` of an object: its tables, maps and programs.
pub fn disasm(bytes: &[u8], path: &Path) -> Result<String, CliError> {
    let in_file = |e: &dyn std::fmt::Display| CliError::Input(format!("{}: {e}", path.display()));
    let tables = xbpf::elf::inspect(bytes).map_err(|e| in_file(&e))?;
    let object = ElfObject::parse(bytes).map_err(|e| in_file(&e))?;
    let mut out = String::new();
    let _ = writeln!(out, "# sections");
    for s in &tables.sections {
        let _ = writeln!(
            out,
            "#   [{:2}] {:<28} {:>8} bytes  {}",
            s.index, s.name, s.size, s.role
        );
    }
    let _ = writeln!(out, "# symbols");
    for s in tables.symbols.iter().filter(|s| s.kind != "file") {
        let _ = writeln!(
            out,
            "#   {:<32} {:<8} {:<20} value {:#x} size {}",
            s.name,
            s.kind,
            s.section.as_deref().unwrap_or("<undefined>"),
            s.value,
            s.size
        );
    }
    let _ = writeln!(out, "# relocations");
    for r in tables
        .relocations
        .iter()
        .filter(|r| !r.section.starts_with(".debug") && !r.section.starts_with(".BTF"))
    {
        let _ = writeln!(
            out,
            "#   {:<24} {:#06x} {:<14} {}",
            r.section, r.offset, r.kind, r.symbol
        );
    }
    let _ = writeln!(out, "# maps");
    for (index, m) in object.maps().iter().enumerate() {
        let _ = writeln!(
            out,
            "#   {index}: {} {} key {} value {} max_entries {} flags {:#x}",
            m.name, m.map_type, m.key_size, m.value_size, m.max_entries, m.flags
        );
    }
    if let Some(license) = object.license() {
        let _ = writeln!(out, "# license: {license}");
    }
    for program in object.programs() {
        let _ = writeln!(
            out,
            "\n# program {}/{} ({} slots)",
            program.section,
            program.function,
            program.insns.len()
        );
        let text = xbpf::isa::disassemble(&program.insns);
        let mut pc = 0;
        let mut named = None;
        for line in text.lines() {
            if named != Some(pc)
                && let Some((_, name)) = program.functions.iter().find(|(start, _)| *start == pc)
            {
                let _ = writeln!(out, "{name}():");
                named = Some(pc);
            }
            if line.ends_with(':') {
                let _ = writeln!(out, "{line}");
                continue;
            }
            let _ = writeln!(out, "    {line}");
            pc += if line.starts_with("lddw") { 2 } else { 1 };
        }
    }
    Ok(out)
}
