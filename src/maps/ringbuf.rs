//! Ring buffer (`BPF_MAP_TYPE_RINGBUF`): programs reserve records in a data arena, fill them
//! through the pointer they get and submit or discard them; the host consumes submitted records
//! in order. A record still reserved blocks consumption of later ones, as in Linux.
//!
//! Records never wrap: one that does not fit before the end of the arena starts at its
//! beginning, and the skipped tail counts as used until the record before it is consumed.

use super::arena::Arena;
use super::error::MapError;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Bytes of header Linux puts before each record; kept for identical space accounting.
const HEADER: u64 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RecordState {
    Reserved,
    Submitted,
    Discarded,
}

#[derive(Debug)]
struct Record {
    /// Absolute position of the header (data follows it).
    pos: u64,
    /// Data length.
    len: u64,
    /// Total space taken, padding and header included.
    span: u64,
    state: RecordState,
}

#[derive(Debug, Default)]
struct State {
    producer: u64,
    consumer: u64,
    records: VecDeque<Record>,
}

/// Storage of a ring buffer.
#[derive(Debug)]
pub struct RingBuf {
    arena: Arena,
    size: u64,
    state: Mutex<State>,
}

/// `BPF_RB_AVAIL_DATA` (`bpf_ringbuf_query`): bytes not yet consumed.
pub const RB_AVAIL_DATA: u64 = 0;
/// `BPF_RB_RING_SIZE`: the size of the data area.
pub const RB_RING_SIZE: u64 = 1;
/// `BPF_RB_CONS_POS`: the consumer position.
pub const RB_CONS_POS: u64 = 2;
/// `BPF_RB_PROD_POS`: the producer position.
pub const RB_PROD_POS: u64 = 3;

impl RingBuf {
    /// A ring buffer whose data area is `arena`.
    pub fn new(arena: Arena) -> RingBuf {
        let size = arena.len() as u64;
        RingBuf {
            arena,
            size,
            state: Mutex::new(State::default()),
        }
    }

    /// The data area.
    pub fn arena(&self) -> &Arena {
        &self.arena
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `len` bytes; returns the address of the record's data.
    pub fn reserve(&self, len: u64) -> Result<u64, MapError> {
        let mut state = self.state();
        let total = len
            .checked_add(HEADER)
            .map(|t| t.next_multiple_of(8))
            .filter(|t| *t <= self.size)
            .ok_or(MapError::Full)?;
        let offset = state.producer % self.size;
        let padding = if offset + total > self.size {
            self.size - offset
        } else {
            0
        };
        let span = padding + total;
        if state.producer + span - state.consumer > self.size {
            return Err(MapError::Full);
        }
        let pos = state.producer + padding;
        state.producer += span;
        state.records.push_back(Record {
            pos,
            len,
            span,
            state: RecordState::Reserved,
        });
        Ok(self.arena.addr(((pos + HEADER) % self.size) as usize))
    }

    /// Marks the reserved record whose data is at `addr` submitted (or discarded).
    pub fn commit(&self, addr: u64, discard: bool) -> Result<(), MapError> {
        let mut state = self.state();
        let offset = self
            .arena
            .offset_of(addr)
            .ok_or(MapError::BadReference("ring buffer record"))? as u64;
        let record = state
            .records
            .iter_mut()
            .find(|r| r.state == RecordState::Reserved && (r.pos + HEADER) % self.size == offset)
            .ok_or(MapError::BadReference("ring buffer record"))?;
        record.state = if discard {
            RecordState::Discarded
        } else {
            RecordState::Submitted
        };
        Ok(())
    }

    /// Copies `data` into a new submitted record.
    pub fn output(&self, data: &[u8]) -> Result<(), MapError> {
        let addr = self.reserve(data.len() as u64)?;
        let offset = self.arena.offset_of(addr).unwrap_or(0);
        if !data.is_empty() {
            self.arena.write(offset, data);
        }
        self.commit(addr, false)
    }

    /// `bpf_ringbuf_query`.
    pub fn query(&self, selector: u64) -> u64 {
        let state = self.state();
        match selector {
            RB_AVAIL_DATA => state.producer - state.consumer,
            RB_RING_SIZE => self.size,
            RB_CONS_POS => state.consumer,
            RB_PROD_POS => state.producer,
            _ => 0,
        }
    }

    /// Hands every submitted record at the front to `sink`, in order, and frees them.
    pub fn consume(&self, mut sink: impl FnMut(&[u8])) -> usize {
        let mut state = self.state();
        let mut count = 0;
        while let Some(front) = state.records.front() {
            match front.state {
                RecordState::Reserved => break,
                RecordState::Submitted => {
                    let data = self.arena.read(
                        ((front.pos + HEADER) % self.size) as usize,
                        front.len as usize,
                    );
                    sink(&data);
                    count += 1;
                }
                RecordState::Discarded => {}
            }
            state.consumer += front.span;
            state.records.pop_front();
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_out_in_order_and_reserved_ones_block() {
        let ring = RingBuf::new(Arena::new(64).unwrap());
        ring.output(b"one").unwrap();
        let pending = ring.reserve(4).unwrap();
        ring.output(b"three").unwrap();
        let mut seen = Vec::new();
        ring.consume(|data| seen.push(data.to_vec()));
        assert_eq!(seen, vec![b"one".to_vec()]);
        ring.commit(pending, true).unwrap();
        ring.consume(|data| seen.push(data.to_vec()));
        assert_eq!(seen, vec![b"one".to_vec(), b"three".to_vec()]);
        assert_eq!(ring.query(RB_AVAIL_DATA), 0);
        assert!(ring.commit(pending, false).is_err());
    }

    #[test]
    fn full_rings_refuse_and_wrap_after_consumption() {
        let ring = RingBuf::new(Arena::new(64).unwrap());
        assert_eq!(ring.reserve(64), Err(MapError::Full));
        for _ in 0..3 {
            ring.output(&[7; 8]).unwrap();
        }
        assert_eq!(ring.reserve(16), Err(MapError::Full));
        assert_eq!(ring.consume(|_| {}), 3);
        let addr = ring.reserve(16).unwrap();
        assert!(ring.arena().offset_of(addr).is_some());
        ring.commit(addr, false).unwrap();
        assert_eq!(ring.query(RB_RING_SIZE), 64);
    }
}
