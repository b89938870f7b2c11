//! Splits one source line into a label or a mnemonic with operands, keeping token columns.

use crate::prelude::*;

/// A piece of source text and the 1-based column (in characters) where it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub text: &'a str,
    pub column: usize,
}

impl<'a> Token<'a> {
    /// The part of this token from byte `start` to byte `end`; `None` when the range is not on
    /// character boundaries inside the token.
    pub fn part(self, start: usize, end: usize) -> Option<Token<'a>> {
        let text = self.text.get(start..end)?;
        let before = self.text.get(..start)?;
        Some(Token {
            text,
            column: self.column + before.chars().count(),
        })
    }

    /// The rest of this token from byte `start`.
    pub fn rest(self, start: usize) -> Option<Token<'a>> {
        self.part(start, self.text.len())
    }
}

/// What one line contains.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// Nothing but whitespace and comments.
    Blank,
    /// `name:` (the token is the name without the colon).
    Label(Token<'a>),
    /// A mnemonic and its operands, each with one trailing comma removed.
    Instruction {
        mnemonic: Token<'a>,
        operands: Vec<Token<'a>>,
    },
}

/// Lexes one line (without its line terminator).
pub(super) fn lex(line: &str) -> Line<'_> {
    let code = match line.split_once('#') {
        Some((code, _comment)) => code,
        None => line,
    };
    let mut tokens = split_whitespace(code).into_iter();
    let Some(first) = tokens.next() else {
        return Line::Blank;
    };
    if let Some(name) = first.text.strip_suffix(':') {
        return Line::Label(Token {
            text: name,
            column: first.column,
        });
    }
    let operands = tokens
        .map(|token| Token {
            text: token.text.strip_suffix(',').unwrap_or(token.text),
            column: token.column,
        })
        .collect();
    Line::Instruction {
        mnemonic: first,
        operands,
    }
}

fn split_whitespace(code: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    // (byte offset, column) of the token being read
    let mut start: Option<(usize, usize)> = None;
    for (column, (offset, c)) in (1..).zip(code.char_indices()) {
        match (c.is_whitespace(), start) {
            (true, Some((from, from_column))) => {
                if let Some(text) = code.get(from..offset) {
                    tokens.push(Token {
                        text,
                        column: from_column,
                    });
                }
                start = None;
            }
            (false, None) => start = Some((offset, column)),
            _ => {}
        }
    }
    if let Some((from, from_column)) = start
        && let Some(text) = code.get(from..)
    {
        tokens.push(Token {
            text,
            column: from_column,
        });
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(text: &str, column: usize) -> Token<'_> {
        Token { text, column }
    }

    #[test]
    fn tokens_carry_their_columns_and_lose_one_trailing_comma() {
        assert_eq!(
            lex("  add\t%r0,,  1 # comment, here"),
            Line::Instruction {
                mnemonic: token("add", 3),
                operands: vec![token("%r0,", 7), token("1", 14)],
            }
        );
    }

    #[test]
    fn labels_blank_lines_and_comments() {
        assert_eq!(lex("  loop: mov %r0, 1"), Line::Label(token("loop", 3)));
        assert_eq!(lex("   # only a comment"), Line::Blank);
        assert_eq!(lex(""), Line::Blank);
        assert_eq!(lex("#exit"), Line::Blank);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(
            lex("é  ja x"),
            Line::Instruction {
                mnemonic: token("é", 1),
                operands: vec![token("ja", 4), token("x", 7)],
            }
        );
    }

    #[test]
    fn parts_of_a_token_keep_columns() {
        let memory = token("[%r1+8]", 5);
        assert_eq!(memory.part(1, 4), Some(token("%r1", 6)));
        assert_eq!(memory.rest(4), Some(token("+8]", 9)));
        assert_eq!(memory.part(4, 2), None);
        assert_eq!(token("é", 1).part(1, 2), None);
    }
}
