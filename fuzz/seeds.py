#!/usr/bin/env python3
"""Writes seed corpora for the fuzz targets into fuzz/corpus/<target>/.

Sources (read from the shared test data, never copied into the repository):
  - the bpf_conformance suite: program bytes from manifest.tsv (program_hex), memory and
    assembly from the .data files;
  - the verifier corpus: ELF objects, and the bytes of their program sections.

The raw program layout of the engine and verifier targets is fuzz/src/case.rs's:
  flags | memory length (u16 LE) | fuel field (u16 LE) | memory | program bytes.

Usage: fuzz/seeds.py [SHARED_DIR]   (default: ../shared from the repository root)
Only the standard library is used. Existing seeds are kept; files are named by content hash.
"""

import hashlib
import random
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def shared_dir() -> Path:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
    if not (path / "conformance" / "manifest.tsv").is_file():
        sys.exit(f"seeds.py: the shared test data is missing ({path}/conformance/manifest.tsv)")
    return path


def write(target: str, data: bytes) -> None:
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / hashlib.sha1(data).hexdigest()).write_bytes(data)


def raw_case(selector: int, memory: bytes, program: bytes, fuel_field: int = 0xFFFF) -> bytes:
    flags = 1 | (selector << 1)
    return bytes([flags & 0xFF]) + struct.pack("<HH", len(memory), fuel_field) + memory + program


def data_sections(text: str) -> dict:
    """The asm and mem sections of a .data file (a simplified reading of the format)."""
    sections, current = {}, None
    for line in text.split("\n"):
        line = line.split("#", 1)[0].rstrip("\r")
        if "--" in line:
            current = line.replace("--", "").strip()
            sections.setdefault(current, [])
        elif current is not None and line.strip():
            sections[current].append(line)
    return sections


def conformance_tests(shared: Path):
    """(file name, program bytes, memory bytes, .data text) of every suite test."""
    manifest = (shared / "conformance" / "manifest.tsv").read_text().splitlines()
    rows = [line.split("\t") for line in manifest if not line.startswith("#")]
    header, rows = rows[0], rows[1:]
    col = {name: index for index, name in enumerate(header)}
    for row in rows:
        name = row[col["file"]]
        text = (shared / "conformance" / "tests" / name).read_text()
        mem_tokens = " ".join(data_sections(text).get("mem", [])).split()
        memory = bytes(int(token, 16) & 0xFF for token in mem_tokens)
        yield name, bytes.fromhex(row[col["program_hex"]]), memory, text


def elf_programs(path: Path):
    """(section name, bytes) of the executable sections of a 64-bit little-endian ELF."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return
    try:
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
        headers = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
        names = headers[shstrndx]
        for header in headers:
            name_offset, kind, flags, _, offset, size = header[:6]
            if kind == 1 and flags & 0x4 and size and size % 8 == 0:  # PROGBITS, EXECINSTR
                end = data.index(b"\0", names[4] + name_offset)
                yield data[names[4] + name_offset:end].decode(errors="replace"), data[offset:offset + size]
    except (struct.error, ValueError, IndexError):
        return


def verifier_selector(section: str) -> int:
    """Program type selector of the verify target (fuzz/src/targets.rs) for an ELF section."""
    if section.startswith("xdp"):
        return 2
    if section.startswith("socket"):
        return 3
    if section.startswith("classifier") or section.startswith("tc"):
        return 4
    return 5


def main() -> None:
    shared = shared_dir()
    counts = {}
    tests = list(conformance_tests(shared))
    for index, (name, program, memory, text) in enumerate(tests):
        write("decode", program)
        write("differential", raw_case(0, memory, program))
        write("soundness", raw_case(0, memory, program))
        # program type and configuration vary with the test
        write("verify", raw_case(index % 32, memory, program))
        write("verify", raw_case(0, memory, program))
        write("conformance_data", text.encode())
        asm = data_sections(text).get("asm")
        if asm:
            write("assemble", "\n".join(asm).encode())
    # plugin protocol input for the data target: memory hex, then program hex
    write("conformance_data", b"01 02 03 04\n95 00 00 00 00 00 00 00\n")

    corpus = shared / "verifier-corpus"
    objects = sorted(corpus.rglob("*.o"))
    for path in objects:
        elf = path.read_bytes()
        write("elf", elf)
        for section, program in elf_programs(path):
            write("decode", program)
            selector = verifier_selector(section)
            write("verify", raw_case(selector, b"", program))
            write("verify", raw_case(selector | 8, b"", program))  # with the termination check
            write("differential", raw_case(0, bytes(64), program, 0x0FFF))
            write("soundness", raw_case(0, bytes(64), program, 0x0FFF))

    # generated programs (flags bit 0 clear): random bytes for the generator
    rng = random.Random(0x5EED)
    for _ in range(64):
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice([64, 512, 4096])))
        for target in ("differential", "verify", "soundness"):
            write(target, bytes([rng.getrandbits(8) & 0xFE]) + body)

    for target in sorted(p.name for p in CORPUS.iterdir() if p.is_dir()):
        counts[target] = sum(1 for _ in (CORPUS / target).iterdir())
    print(f"seeds from {len(tests)} conformance tests and {len(objects)} ELF objects:")
    for target, count in counts.items():
        print(f"  fuzz/corpus/{target}: {count} files")


if __name__ == "__main__":
    main()
