//! Program files by content: ELF objects, conformance `.data` files, assembly text or raw
//! bytecode. The file name is never consulted, so a program keeps working when renamed.

use std::path::{Path, PathBuf};
use xbpf_isa::{AsmError, Insn};

/// The format a program file was detected as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgramFormat {
    /// Little-endian 8-byte slots.
    Raw,
    /// xbpf/bpf_conformance assembly text.
    Assembly,
    /// A bpf_conformance `.data` test (its program and memory).
    ConformanceData,
    /// An ELF object.
    Elf,
}

/// A program read from a file, not yet validated.
#[derive(Clone, Debug)]
pub struct ProgramFile {
    /// What the file was detected as.
    pub format: ProgramFormat,
    /// The program's instruction slots.
    pub slots: Vec<Insn>,
    /// Memory that came with the program (a `.data` file's `-- mem` section).
    pub memory: Option<Vec<u8>>,
    /// The whole object, for ELF files (`slots` is then its only program, with map
    /// references still unresolved).
    pub elf: Option<crate::elf::ElfObject>,
}

/// Why a program file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Assembly text that does not assemble.
    #[error("{path}: {source}")]
    Assembly {
        /// The file.
        path: PathBuf,
        /// The first error, with line and column.
        #[source]
        source: AsmError,
    },
    /// A `.data` file that does not parse.
    #[error("{path}: {source}")]
    ConformanceData {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: xbpf_conformance::data::ParseError,
    },
    /// A `.data` file without a program.
    #[error("{path}: the .data file has neither a `-- raw` nor an `-- asm` section")]
    NoProgram {
        /// The file.
        path: PathBuf,
    },
    /// Raw bytecode that is not a whole number of slots.
    #[error("{path}: raw bytecode must be a multiple of 8 bytes long (is {len} bytes)")]
    PartialSlot {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
    },
    /// An ELF object that does not load.
    #[error("{path}: {source}")]
    Elf {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in the object.
        #[source]
        source: Box<crate::elf::ElfError>,
    },
    /// An ELF object with several programs, and no choice of one.
    #[error("{path}: the object has {count} programs, choose one ({programs})")]
    ElfAmbiguous {
        /// The file.
        path: PathBuf,
        /// How many programs it has.
        count: usize,
        /// Their names (`section/function`), comma-separated.
        programs: String,
    },
}

const ELF_MAGIC: &[u8] = b"\x7fELF";

/// Detects the format of `bytes`: ELF by its magic number; text that is valid UTF-8 with no
/// control characters other than whitespace is a `.data` file when it has an `-- asm` or
/// `-- raw` directive, else assembly; anything else is raw bytecode.
pub fn detect(bytes: &[u8]) -> ProgramFormat {
    if bytes.starts_with(ELF_MAGIC) {
        return ProgramFormat::Elf;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return ProgramFormat::Raw;
    };
    let is_text = !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || c == '\n' || c == '\r' || c == '\t');
    if !is_text {
        return ProgramFormat::Raw;
    }
    let is_data = text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        line.contains("--") && (line.contains("asm") || line.contains("raw"))
    });
    if is_data {
        ProgramFormat::ConformanceData
    } else {
        ProgramFormat::Assembly
    }
}

/// Reads and decodes a program file.
pub fn read_program(path: &Path) -> Result<ProgramFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_program(&bytes, path)
}

/// Decodes the bytes of a program file; `path` only names it in errors.
pub fn parse_program(bytes: &[u8], path: &Path) -> Result<ProgramFile, LoadError> {
    let path_buf = || path.to_path_buf();
    let format = detect(bytes);
    let (slots, memory) = match format {
        ProgramFormat::Elf => {
            let object = crate::elf::ElfObject::parse(bytes).map_err(|source| LoadError::Elf {
                path: path_buf(),
                source: Box::new(source),
            })?;
            let slots = match object.programs() {
                [only] => only.insns.clone(),
                programs => {
                    return Err(LoadError::ElfAmbiguous {
                        path: path_buf(),
                        count: programs.len(),
                        programs: programs
                            .iter()
                            .map(|p| format!("{}/{}", p.section, p.function))
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            };
            return Ok(ProgramFile {
                format,
                slots,
                memory: None,
                elf: Some(object),
            });
        }
        ProgramFormat::Raw => {
            let slots =
                xbpf_isa::insn::slots_from_bytes(bytes).map_err(|_| LoadError::PartialSlot {
                    path: path_buf(),
                    len: bytes.len(),
                })?;
            (slots, None)
        }
        ProgramFormat::Assembly => {
            let text = String::from_utf8_lossy(bytes);
            let slots = xbpf_isa::assemble(&text).map_err(|source| LoadError::Assembly {
                path: path_buf(),
                source,
            })?;
            (slots, None)
        }
        ProgramFormat::ConformanceData => {
            let text = String::from_utf8_lossy(bytes);
            let file = xbpf_conformance::data::parse(&text).map_err(|source| {
                LoadError::ConformanceData {
                    path: path_buf(),
                    source,
                }
            })?;
            let slots = match (file.raw, file.asm) {
                (Some(raw), _) => raw,
                (None, Some(asm)) => {
                    xbpf_isa::assemble(&asm).map_err(|source| LoadError::Assembly {
                        path: path_buf(),
                        source,
                    })?
                }
                (None, None) => return Err(LoadError::NoProgram { path: path_buf() }),
            };
            (slots, Some(file.mem))
        }
    };
    Ok(ProgramFile {
        format,
        slots,
        memory,
        elf: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_content() {
        assert_eq!(detect(b"\x7fELF\x02\x01"), ProgramFormat::Elf);
        assert_eq!(detect(b"mov %r0, 1\nexit\n"), ProgramFormat::Assembly);
        assert_eq!(
            detect(b"-- asm\nexit\n-- result\n0x0\n"),
            ProgramFormat::ConformanceData
        );
        assert_eq!(
            detect(&[0x95, 0, 0, 0, 0, 0, 0, 0]),
            ProgramFormat::Raw,
            "NUL bytes make it binary"
        );
    }

    #[test]
    fn data_files_bring_their_memory() {
        let file = parse_program(
            b"-- asm\nldxb %r0, [%r1]\nexit\n-- mem\n2a\n-- result\n0x2a\n",
            Path::new("t.data"),
        )
        .unwrap();
        assert_eq!(file.memory, Some(vec![0x2a]));
        assert_eq!(file.slots.len(), 2);
    }

    #[test]
    fn errors_name_the_file() {
        let error = parse_program(b"frobnicate %r0\n", Path::new("bad.asm")).unwrap_err();
        assert!(error.to_string().starts_with("bad.asm: line 1"), "{error}");
        let error = parse_program(&[0x95, 0, 0], Path::new("short.bin")).unwrap_err();
        assert!(error.to_string().contains("multiple of 8"), "{error}");
    }
}
