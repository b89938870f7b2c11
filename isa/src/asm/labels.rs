//! Label definitions and references; references are resolved once the whole source is read.

use super::lexer::Token;
use super::operand::TargetField;
use super::{AsmError, AsmErrorKind};
use crate::insn::Insn;
use crate::prelude::*;
use alloc::collections::BTreeMap;

#[derive(Debug)]
struct Definition {
    slot: usize,
    line: usize,
}

#[derive(Debug)]
struct Reference {
    slot: usize,
    field: TargetField,
    label: String,
    line: usize,
    column: usize,
}

/// The labels of one source text.
#[derive(Debug, Default)]
pub(super) struct Labels {
    definitions: BTreeMap<String, Definition>,
    references: Vec<Reference>,
}

impl Labels {
    /// Defines `name` at `slot`; defining a name twice is an error at the second definition.
    pub fn define(&mut self, name: Token<'_>, slot: usize, line: usize) -> Result<(), AsmError> {
        if let Some(first) = self.definitions.get(name.text) {
            return Err(AsmError {
                line,
                column: name.column,
                kind: AsmErrorKind::DuplicateLabel {
                    label: name.text.to_string(),
                    first_line: first.line,
                },
            });
        }
        self.definitions
            .insert(name.text.to_string(), Definition { slot, line });
        Ok(())
    }

    /// Records that the instruction at `slot` jumps or calls to `label`.
    pub fn refer(&mut self, label: Token<'_>, slot: usize, field: TargetField, line: usize) {
        self.references.push(Reference {
            slot,
            field,
            label: label.text.to_string(),
            line,
            column: label.column,
        });
    }

    /// Writes every referenced label's relative offset (target - slot - 1) into its slot.
    /// The first failing reference in source order is reported.
    pub fn resolve(self, slots: &mut [Insn]) -> Result<(), AsmError> {
        for reference in self.references {
            let error = |kind| AsmError {
                line: reference.line,
                column: reference.column,
                kind,
            };
            let Some(definition) = self.definitions.get(&reference.label) else {
                return Err(error(AsmErrorKind::UnknownLabel(reference.label)));
            };
            // Slot indices are bounded by the source length, far below i64::MAX.
            let offset = definition.slot as i64 - reference.slot as i64 - 1;
            let out_of_range = |bits| {
                error(AsmErrorKind::LabelOutOfRange {
                    label: reference.label.clone(),
                    offset,
                    bits,
                })
            };
            // The referring slot was pushed right after the reference was recorded.
            let Some(insn) = slots.get_mut(reference.slot) else {
                continue;
            };
            match reference.field {
                TargetField::Offset => {
                    insn.off = i16::try_from(offset).map_err(|_| out_of_range(16))?;
                }
                TargetField::Imm => {
                    insn.imm = i32::try_from(offset).map_err(|_| out_of_range(32))?;
                }
            }
        }
        Ok(())
    }
}
