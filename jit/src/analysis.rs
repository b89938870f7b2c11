//! What the back ends need to know about a program before emitting code: where labels go,
//! where to poll the interrupt flag, where fuel is charged and which registers are used.

use xbpf_isa::{CallTarget, Instruction, PacketMode, Program, Reg, Source};

/// Facts about a program, computed once per compilation.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// pcs control can reach other than by falling through: jump and call targets.
    targets: Vec<bool>,
    /// pcs where the interrupt flag is polled: targets of backward jumps and function entries.
    polls: Vec<bool>,
    /// Targets of backward jumps (not calls): where loops start.
    loop_heads: Vec<bool>,
    /// Bit n is set when the program uses rn (r1 to r5 count as used by calls, r10 by local
    /// calls, which move it).
    used_registers: u16,
    /// Which frames each pc can run in (see [`Frames`]).
    frames: Vec<Frames>,
    /// What the program's instructions use of a run's input.
    input_use: InputUse,
}

/// Which parts of a run's input a program's instructions can touch, so that a run sets up only
/// those (for short programs, setting up the rest costs more than running them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputUse {
    /// Loads, stores or atomics: through any base register, the stack's included.
    pub memory: bool,
    /// Legacy packet loads.
    pub packet: bool,
    /// Helper calls (static or `callx`), which see the run's memory.
    pub helpers: bool,
}

/// In which frames an instruction can run: the outermost one (reached from pc 0) and/or a
/// callee's (reached from another function entry). Nothing stops a program from jumping from
/// one function's code into another's, so both can hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frames {
    pub outermost: bool,
    pub callee: bool,
}

impl Analysis {
    pub fn new(program: &Program) -> Analysis {
        let len = program.len();
        let mut targets = vec![false; len];
        let mut polls = vec![false; len];
        let mut loop_heads = vec![false; len];
        let mut used_registers = 0;
        for &entry in program.functions() {
            targets[entry] = true;
            polls[entry] = true;
        }
        let mut input_use = InputUse::default();
        for (pc, instruction) in program.instructions() {
            used_registers |= registers(instruction);
            match instruction {
                Instruction::Load { .. }
                | Instruction::Store { .. }
                | Instruction::Atomic { .. } => input_use.memory = true,
                Instruction::LoadPacket { .. } => input_use.packet = true,
                Instruction::Call(CallTarget::Helper(_) | CallTarget::Kfunc(_))
                | Instruction::Callx(_) => input_use.helpers = true,
                _ => {}
            }
            if let Some(offset) = instruction.branch_offset() {
                // `Program` validated every target: it is inside the program.
                let target = (pc as i64 + 1 + offset) as usize;
                targets[target] = true;
                if target <= pc {
                    polls[target] = true;
                    if !matches!(instruction, Instruction::Call(_)) {
                        loop_heads[target] = true;
                    }
                }
            }
        }
        let frames = frames(program);
        Analysis {
            targets,
            polls,
            loop_heads,
            used_registers,
            frames,
            input_use,
        }
    }

    /// What the program uses of a run's input.
    pub fn input_use(&self) -> InputUse {
        self.input_use
    }

    /// In which frames the instruction at `pc` can run (both `false` for unreachable code).
    pub fn frames(&self, pc: usize) -> Frames {
        self.frames.get(pc).copied().unwrap_or_default()
    }

    /// Whether control can arrive at `pc` by a jump or call (so it needs a label).
    pub fn is_target(&self, pc: usize) -> bool {
        self.targets.get(pc).copied().unwrap_or(false)
    }

    /// Whether a backward jump goes to `pc`.
    pub fn is_loop_head(&self, pc: usize) -> bool {
        self.loop_heads.get(pc).copied().unwrap_or(false)
    }

    /// Whether code at `pc` polls the interrupt flag (when interrupts are configured).
    pub fn polls_interrupt(&self, pc: usize) -> bool {
        self.polls.get(pc).copied().unwrap_or(false)
    }

    /// Whether the program uses `reg`.
    pub fn uses(&self, reg: Reg) -> bool {
        self.used_registers & (1 << reg.number()) != 0
    }
}

/// Walks each function's code from its entry (jumps, fall-through, and past calls) to find
/// which frames every instruction can run in.
fn frames(program: &Program) -> Vec<Frames> {
    let mut frames = vec![Frames::default(); program.len()];
    let mut seen = vec![false; program.len()];
    // Local call targets (pc 0 among them if something calls it).
    let callees: Vec<usize> = program
        .instructions()
        .filter(|(_, instruction)| matches!(instruction, Instruction::Call(CallTarget::Local(_))))
        .filter_map(|(pc, instruction)| branch_target(pc, instruction))
        .collect();
    for outermost in [true, false] {
        seen.iter_mut().for_each(|seen| *seen = false);
        let mut work: Vec<usize> = if outermost { vec![0] } else { callees.clone() };
        while let Some(pc) = work.pop() {
            let Some(instruction) = program.instruction(pc) else {
                continue;
            };
            if std::mem::replace(&mut seen[pc], true) {
                continue;
            }
            if outermost {
                frames[pc].outermost = true;
            } else {
                frames[pc].callee = true;
            }
            let next = pc + instruction.slots();
            match instruction {
                Instruction::Exit => {}
                Instruction::Ja { .. } => work.extend(branch_target(pc, instruction)),
                Instruction::Jump { .. } => {
                    work.extend(branch_target(pc, instruction));
                    work.push(next);
                }
                // A local call returns to the next instruction; the callee is another walk.
                _ => work.push(next),
            }
        }
    }
    frames
}

fn branch_target(pc: usize, instruction: &Instruction) -> Option<usize> {
    let offset = instruction.branch_offset()?;
    usize::try_from(pc as i64 + 1 + offset).ok()
}

/// The registers an instruction names, as a bit set (calls use r0 to r5).
fn registers(instruction: &Instruction) -> u16 {
    let bit = |reg: Reg| 1u16 << reg.number();
    let source = |src: Source| match src {
        Source::Reg(reg) => bit(reg),
        Source::Imm(_) => 0,
    };
    const CALL_REGISTERS: u16 = 0b11_1111;
    match *instruction {
        Instruction::Alu { dst, src, .. } => bit(dst) | source(src),
        Instruction::Neg { dst, .. } | Instruction::Endian { dst, .. } => bit(dst),
        Instruction::MovSx { dst, src, .. } => bit(dst) | bit(src),
        Instruction::LoadImm64 { dst, .. } => bit(dst),
        Instruction::Load { dst, src, .. } => bit(dst) | bit(src),
        Instruction::Store { dst, src, .. } => bit(dst) | source(src),
        Instruction::Atomic { dst, src, .. } => bit(dst) | bit(src) | bit(Reg::R0),
        Instruction::LoadPacket { mode, .. } => {
            bit(Reg::R0)
                | match mode {
                    PacketMode::Abs => 0,
                    PacketMode::Ind(reg) => bit(reg),
                }
        }
        Instruction::Jump { dst, src, .. } => bit(dst) | source(src),
        Instruction::Call(CallTarget::Local(_)) => CALL_REGISTERS | bit(Reg::R10),
        Instruction::Call(_) => CALL_REGISTERS,
        Instruction::Callx(reg) => CALL_REGISTERS | bit(reg),
        Instruction::Exit => bit(Reg::R0),
        Instruction::Ja { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xbpf_isa::Insn;

    fn program(slots: &[(u8, u8, u8, i16, i32)]) -> Program {
        Program::new(
            slots
                .iter()
                .map(|&(op, dst, src, off, imm)| Insn::new(op, dst, src, off, imm))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn code_shared_by_functions_runs_in_both_kinds_of_frame() {
        // 0: call +1; 1: ja +0 (to 2); 2: mov r0, 1; 3: exit  -- pc 2 is also the callee entry
        let program = program(&[
            (0x85, 0, 1, 0, 1),
            (0x05, 0, 0, 0, 0),
            (0xb7, 0, 0, 0, 1),
            (0x95, 0, 0, 0, 0),
        ]);
        let analysis = Analysis::new(&program);
        let both = Frames {
            outermost: true,
            callee: true,
        };
        assert_eq!(analysis.frames(3), both);
        assert_eq!(
            analysis.frames(1),
            Frames {
                outermost: true,
                callee: false
            }
        );
    }

    #[test]
    fn backward_targets_and_functions_are_polled() {
        // 0: mov r1, 3; 1: call +2; 2: sub r1, 1; 3: jne r1, 0, -2; 4: exit; 5: mov r0, 1; 6: exit
        let program = program(&[
            (0xb7, 1, 0, 0, 3),
            (0x85, 0, 1, 0, 3),
            (0x17, 1, 0, 0, 1),
            (0x55, 1, 0, -2, 0),
            (0x95, 0, 0, 0, 0),
            (0xb7, 0, 0, 0, 1),
            (0x95, 0, 0, 0, 0),
        ]);
        let analysis = Analysis::new(&program);
        let polled: Vec<usize> = (0..7).filter(|&pc| analysis.polls_interrupt(pc)).collect();
        assert_eq!(polled, vec![0, 2, 5]);
        let targets: Vec<usize> = (0..7).filter(|&pc| analysis.is_target(pc)).collect();
        assert_eq!(targets, vec![0, 2, 5]);
        let loop_heads: Vec<usize> = (0..7).filter(|&pc| analysis.is_loop_head(pc)).collect();
        assert_eq!(loop_heads, vec![2], "function entries are not loop heads");
        assert!(analysis.uses(Reg::R1));
        let outermost = |pc| analysis.frames(pc).outermost;
        let callee = |pc| analysis.frames(pc).callee;
        assert!((0..=4).all(outermost) && !(0..=4).any(callee));
        assert!((5..=6).all(callee) && !(5..=6).any(outermost));
        assert!(analysis.uses(Reg::R10));
        assert!(!analysis.uses(Reg::R6));
    }

    #[test]
    fn r10_counts_as_used_when_named_or_moved_by_local_calls() {
        let straight = program(&[(0xb7, 0, 0, 0, 1), (0x95, 0, 0, 0, 0)]);
        assert!(!Analysis::new(&straight).uses(Reg::R10));
        // stxdw [r10-8], r1; exit
        let named = program(&[(0x7b, 10, 1, -8, 0), (0x95, 0, 0, 0, 0)]);
        assert!(Analysis::new(&named).uses(Reg::R10));
        // call +1; exit; mov r0, 1; exit
        let calls = program(&[
            (0x85, 0, 1, 0, 1),
            (0x95, 0, 0, 0, 0),
            (0xb7, 0, 0, 0, 1),
            (0x95, 0, 0, 0, 0),
        ]);
        assert!(Analysis::new(&calls).uses(Reg::R10));
    }
}
