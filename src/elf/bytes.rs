//! Bounds-checked little-endian reads from untrusted bytes (BTF, BTF.ext, map definitions).

/// Why a read failed: `needed` bytes at `offset` but the data has only `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds {
    pub offset: usize,
    pub needed: usize,
    pub len: usize,
}

/// Returns `data[offset..offset + len]`, or why it does not exist.
pub fn slice(data: &[u8], offset: usize, len: usize) -> Result<&[u8], OutOfBounds> {
    offset
        .checked_add(len)
        .and_then(|end| data.get(offset..end))
        .ok_or(OutOfBounds {
            offset,
            needed: len,
            len: data.len(),
        })
}

/// Reads a little-endian `u32` at `offset`.
pub fn u32_at(data: &[u8], offset: usize) -> Result<u32, OutOfBounds> {
    let bytes = slice(data, offset, 4)?;
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Reads a little-endian `u16` at `offset`.
pub fn u16_at(data: &[u8], offset: usize) -> Result<u16, OutOfBounds> {
    let bytes = slice(data, offset, 2)?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

/// Reads the NUL-terminated string at `offset` (without the NUL). Fails when there is no NUL
/// before the end of `data`.
pub fn c_str_at(data: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = data.get(offset..)?;
    let end = rest.iter().position(|&byte| byte == 0)?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let data = [1u8, 0, 0, 0, 2, 0];
        assert_eq!(u32_at(&data, 0), Ok(1));
        assert_eq!(u16_at(&data, 4), Ok(2));
        assert_eq!(
            u32_at(&data, 4),
            Err(OutOfBounds {
                offset: 4,
                needed: 4,
                len: 6
            })
        );
        assert!(u32_at(&data, usize::MAX).is_err());
        assert_eq!(c_str_at(b"ab\0cd", 0), Some(&b"ab"[..]));
        assert_eq!(c_str_at(b"ab\0cd", 3), None);
    }
}
