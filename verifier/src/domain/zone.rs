//! The zone domain: difference constraints `v_i - v_j <= c` between the numeric variables of a
//! state (the registers of the current frame, the packet end and packet meta offsets, and the
//! loop counter of the termination check). It is what proves `if (data + 14 > data_end)`
//! guards accesses through `data` and through every copy of it.
//!
//! The matrix is dense: there are only a dozen variables, so a closed matrix costs 169 words
//! and an incremental closure 169 steps; no operation is quadratic in the program length.

/// Registers r0..r9 are variables 0..9.
pub const VAR_PACKET_END: usize = 10;
/// Offset of the packet metadata start relative to the packet data (<= 0).
pub const VAR_PACKET_META: usize = 11;
/// The loop-head visit counter of the termination check.
pub const VAR_LOOP_COUNT: usize = 12;
/// Number of variables.
pub const NVARS: usize = 13;

/// No constraint.
pub const INF: i64 = i64::MAX;

/// `a + b` for bounds: infinite stays infinite, overflow saturates towards the weaker bound.
#[inline]
pub fn add_bound(a: i64, b: i64) -> i64 {
    if a == INF || b == INF {
        INF
    } else {
        a.saturating_add(b)
    }
}

/// A closed difference-bound matrix: `m[i][j]` bounds `v_i - v_j` from above.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Zone {
    m: [[i64; NVARS]; NVARS],
}

impl Default for Zone {
    fn default() -> Self {
        Zone::new()
    }
}

impl Zone {
    /// No constraints.
    pub fn new() -> Zone {
        let mut m = [[INF; NVARS]; NVARS];
        for (i, row) in m.iter_mut().enumerate() {
            row[i] = 0;
        }
        Zone { m }
    }

    /// The bound on `v_i - v_j`.
    #[inline]
    pub fn bound(&self, i: usize, j: usize) -> i64 {
        self.m[i][j]
    }

    /// Sets one bound without restoring closure (for callers that keep it closed themselves,
    /// such as tightening by bounds that every entry already respects).
    pub(crate) fn set_bound(&mut self, i: usize, j: usize, c: i64) {
        self.m[i][j] = c;
    }

    /// Drops every constraint on `v_i`.
    pub fn forget(&mut self, i: usize) {
        for k in 0..NVARS {
            self.m[i][k] = INF;
            self.m[k][i] = INF;
        }
        self.m[i][i] = 0;
    }

    /// `v_i := v_j + c` (with `i != j`).
    pub fn assign(&mut self, i: usize, j: usize, c: i64) {
        if i == j {
            self.shift(i, c);
            return;
        }
        self.forget(i);
        for k in 0..NVARS {
            if k == i {
                continue;
            }
            self.m[i][k] = add_bound(self.m[j][k], c);
            self.m[k][i] = add_bound(self.m[k][j], c.saturating_neg());
        }
        self.m[i][j] = c;
        self.m[j][i] = c.saturating_neg();
    }

    /// `v_i := v_i + c`.
    pub fn shift(&mut self, i: usize, c: i64) {
        for k in 0..NVARS {
            if k == i {
                continue;
            }
            self.m[i][k] = add_bound(self.m[i][k], c);
            self.m[k][i] = add_bound(self.m[k][i], c.saturating_neg());
        }
    }

    /// Adds `v_i - v_j <= c` and restores closure. Returns false when the constraints become
    /// unsatisfiable.
    pub fn add(&mut self, i: usize, j: usize, c: i64) -> bool {
        if i == j {
            return c >= 0;
        }
        if c >= self.m[i][j] {
            return true;
        }
        if add_bound(self.m[j][i], c) < 0 {
            return false;
        }
        // Every path a -> i -> j -> b may now be shorter.
        let via_i: [i64; NVARS] = core::array::from_fn(|a| self.m[a][i]);
        let from_j: [i64; NVARS] = self.m[j];
        for (row, &to_i) in self.m.iter_mut().zip(via_i.iter()) {
            if to_i == INF {
                continue;
            }
            let head = add_bound(to_i, c);
            for b in 0..NVARS {
                let candidate = add_bound(head, from_j[b]);
                if candidate < row[b] {
                    row[b] = candidate;
                }
            }
        }
        (0..NVARS).all(|a| self.m[a][a] >= 0)
    }

    /// Least upper bound (of closed matrices: pointwise maximum, again closed).
    pub fn join(&self, other: &Zone) -> Zone {
        let mut m = self.m;
        for (row, other_row) in m.iter_mut().zip(other.m.iter()) {
            for (x, y) in row.iter_mut().zip(other_row.iter()) {
                *x = (*x).max(*y);
            }
        }
        Zone { m }
    }

    /// Widening: constraints that weakened are dropped.
    pub fn widen(&self, newer: &Zone) -> Zone {
        let mut m = self.m;
        for (row, newer_row) in m.iter_mut().zip(newer.m.iter()) {
            for (x, y) in row.iter_mut().zip(newer_row.iter()) {
                if *y > *x {
                    *x = INF;
                }
            }
        }
        Zone { m }
    }

    /// Whether every constraint of `other` is implied by one of `self`.
    pub fn is_subset_of(&self, other: &Zone) -> bool {
        self.m
            .iter()
            .zip(other.m.iter())
            .all(|(a, b)| a.iter().zip(b.iter()).all(|(x, y)| x <= y))
    }

    /// The finite constraints, for display.
    pub fn constraints(&self) -> impl Iterator<Item = (usize, usize, i64)> + '_ {
        (0..NVARS).flat_map(move |i| {
            (0..NVARS).filter_map(move |j| {
                let c = self.m[i][j];
                (i != j && c != INF).then_some((i, j, c))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_share_constraints() {
        let mut z = Zone::new();
        // r3 := r2 + 14; r3 <= packet_end  =>  r2 - packet_end <= -14
        z.assign(3, 2, 14);
        assert!(z.add(3, VAR_PACKET_END, 0));
        assert_eq!(z.bound(2, VAR_PACKET_END), -14);
        // r4 := r2 (a copy) inherits the constraint
        z.assign(4, 2, 0);
        assert_eq!(z.bound(4, VAR_PACKET_END), -14);
        // moving r4 forward by 4 weakens its constraint by 4
        z.shift(4, 4);
        assert_eq!(z.bound(4, VAR_PACKET_END), -10);
        z.forget(2);
        assert_eq!(z.bound(2, VAR_PACKET_END), INF);
        assert_eq!(z.bound(4, VAR_PACKET_END), -10);
    }

    #[test]
    fn contradictions_are_detected() {
        let mut z = Zone::new();
        assert!(z.add(1, 2, -1));
        assert!(!z.add(2, 1, 0), "r1 < r2 and r2 <= r1 contradict");
    }

    #[test]
    fn join_and_widen_keep_only_common_constraints() {
        let mut a = Zone::new();
        a.add(1, 2, 3);
        let mut b = Zone::new();
        b.add(1, 2, 5);
        let j = a.join(&b);
        assert_eq!(j.bound(1, 2), 5);
        assert!(a.is_subset_of(&j) && b.is_subset_of(&j));
        assert_eq!(a.widen(&j).bound(1, 2), INF);
        assert_eq!(j.widen(&a).bound(1, 2), 5);
    }
}
