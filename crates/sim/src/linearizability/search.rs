//! The Wing–Gong–Lowe search for one key, with Lowe's memoization.
//!
//! Call and return entries of every operation sit in one doubly linked list,
//! in history order. The search walks the list trying to linearize the
//! earliest pending call; linearizing an operation "lifts" its call and its
//! return out of the list. Reaching a return entry means the operation that
//! returned there was not linearized in time, so the search backtracks.
//! A cache of (linearized set, model state) pairs prunes configurations seen
//! before, which is what turns the exponential search into something usable
//! on real histories (Lowe, "Testing for linearizability", 2017; Porcupine).

use super::model::{step, Input, Output, State};
use std::collections::HashSet;
use std::hash::BuildHasherDefault;

/// One operation on a single key, as the search sees it.
#[derive(Clone, Debug)]
pub struct KeyOp {
    /// What was asked.
    pub input: Input,
    /// What was answered (`Unknown` for an `info`).
    pub output: Output,
    /// Position of the invoke in the history.
    pub call_pos: usize,
    /// Position of the completion; `None` when the outcome is unknown, which
    /// places the return after everything (the operation may take effect at
    /// any later time, or never).
    pub return_pos: Option<usize>,
}

/// Bounds that keep the search from running away on a pathological history.
#[derive(Clone, Copy, Debug)]
pub struct SearchLimits {
    /// Search steps (model calls plus backtracks) per key before giving up
    /// with "unknown".
    pub steps_max: u64,
    /// Distinct cached configurations per key before giving up.
    pub cache_entries_max: usize,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            steps_max: 20_000_000,
            cache_entries_max: 2_000_000,
        }
    }
}

/// The result of searching one key's operations.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum KeyVerdict {
    /// A linearization exists.
    Linearizable,
    /// None exists. `stuck_op` is an operation (index into the input) that
    /// no explored linearization could place before it returned, from the
    /// deepest configuration reached; `longest_prefix` is how many operations
    /// that configuration had linearized.
    NotLinearizable {
        /// Index of the operation the deepest attempt could not place.
        stuck_op: usize,
        /// Operations linearized by the deepest attempt.
        longest_prefix: usize,
    },
    /// The search hit a limit.
    Unknown {
        /// Which limit.
        reason: &'static str,
    },
}

const NIL: usize = usize::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    op: usize,
    is_call: bool,
    /// For a call, the node of its return.
    partner: usize,
    prev: usize,
    next: usize,
}

/// A fixed-key hasher: the cache is only queried for membership, but a fixed
/// hasher keeps runs reproducible down to memory layout.
type FixedState = BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

struct Bitset(Vec<u64>);

impl Bitset {
    fn new(bits: usize) -> Self {
        Bitset(vec![0; bits.div_ceil(64)])
    }
    fn set(&mut self, bit: usize) {
        self.0[bit / 64] |= 1 << (bit % 64);
    }
    fn clear(&mut self, bit: usize) {
        self.0[bit / 64] &= !(1 << (bit % 64));
    }
}

/// Searches for a linearization of `ops`, all on one key whose initial
/// state is `initial`.
pub fn check_key(ops: &[KeyOp], initial: State, limits: SearchLimits) -> KeyVerdict {
    if ops.is_empty() {
        return KeyVerdict::Linearizable;
    }
    // Entries sorted by position; unknown returns go last, in op order.
    let mut order: Vec<(usize, bool, usize)> = Vec::with_capacity(ops.len() * 2 + 1);
    for (op, entry) in ops.iter().enumerate() {
        order.push((entry.call_pos, true, op));
        let return_pos = entry.return_pos.unwrap_or(usize::MAX);
        assert!(
            return_pos > entry.call_pos,
            "an operation returns after it is invoked"
        );
        order.push((return_pos, false, op));
    }
    // A return and a call at one position cannot happen in a well-formed
    // history; sort calls first anyway so the search is never stricter
    // than the real-time order requires.
    order.sort_by_key(|&(pos, is_call, op)| (pos, !is_call, op));

    // nodes[0] is the list head.
    let mut nodes = Vec::with_capacity(order.len() + 1);
    nodes.push(Node {
        op: NIL,
        is_call: false,
        partner: NIL,
        prev: NIL,
        next: NIL,
    });
    let mut call_node = vec![NIL; ops.len()];
    let mut return_node = vec![NIL; ops.len()];
    for (i, &(_, is_call, op)) in order.iter().enumerate() {
        let index = i + 1;
        nodes.push(Node {
            op,
            is_call,
            partner: NIL,
            prev: index - 1,
            next: if i + 1 < order.len() { index + 1 } else { NIL },
        });
        if is_call {
            call_node[op] = index;
        } else {
            return_node[op] = index;
        }
    }
    nodes[0].next = 1;
    for op in 0..ops.len() {
        nodes[call_node[op]].partner = return_node[op];
    }

    let lift = |nodes: &mut Vec<Node>, call: usize| {
        let Node { prev, next, .. } = nodes[call];
        nodes[prev].next = next;
        if next != NIL {
            nodes[next].prev = prev;
        }
        let ret = nodes[call].partner;
        let Node { prev, next, .. } = nodes[ret];
        nodes[prev].next = next;
        if next != NIL {
            nodes[next].prev = prev;
        }
    };
    let unlift = |nodes: &mut Vec<Node>, call: usize| {
        let ret = nodes[call].partner;
        let Node { prev, next, .. } = nodes[ret];
        nodes[prev].next = ret;
        if next != NIL {
            nodes[next].prev = ret;
        }
        let Node { prev, next, .. } = nodes[call];
        nodes[prev].next = call;
        if next != NIL {
            nodes[next].prev = call;
        }
    };

    let mut cache: HashSet<(Vec<u64>, State), FixedState> = HashSet::default();
    let mut linearized = Bitset::new(ops.len());
    let mut state = initial;
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut steps: u64 = 0;
    let mut deepest = (0usize, NIL);
    let mut entry = nodes[0].next;

    while nodes[0].next != NIL {
        steps += 1;
        if steps > limits.steps_max {
            return KeyVerdict::Unknown {
                reason: "search step limit reached",
            };
        }
        // Every call's return follows it in the list, so walking forward
        // from a call always reaches a return before the end.
        debug_assert!(entry != NIL, "walked past the last return");
        let node = nodes[entry];
        if node.is_call {
            let op = &ops[node.op];
            if let Some(next_state) = step(&state, &op.input, &op.output) {
                linearized.set(node.op);
                if cache.insert((linearized.0.clone(), next_state.clone())) {
                    if cache.len() > limits.cache_entries_max {
                        return KeyVerdict::Unknown {
                            reason: "search cache limit reached",
                        };
                    }
                    stack.push((entry, std::mem::replace(&mut state, next_state)));
                    lift(&mut nodes, entry);
                    entry = nodes[0].next;
                    continue;
                }
                linearized.clear(node.op);
            }
            entry = node.next;
        } else {
            // A return: its operation was not linearized before it returned.
            if deepest.1 == NIL || stack.len() > deepest.0 {
                deepest = (stack.len(), node.op);
            }
            let Some((call, previous)) = stack.pop() else {
                return KeyVerdict::NotLinearizable {
                    stuck_op: deepest.1,
                    longest_prefix: deepest.0,
                };
            };
            state = previous;
            linearized.clear(nodes[call].op);
            unlift(&mut nodes, call);
            entry = nodes[call].next;
        }
    }
    KeyVerdict::Linearizable
}
