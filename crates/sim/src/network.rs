//! The simulated network: which links are cut, and what happens to each
//! message (lost, delayed, duplicated).
//!
//! The network only decides; the simulation owns the event queue and
//! schedules a delivery for every copy the network lets through. A link is
//! checked again at delivery, so cutting a link also loses what was in
//! flight on it, as with a real cable pulled.

use crate::faults::Faults;
use quorate_core::SeededRng;
use std::fmt;

/// The shapes of partition the nemesis creates.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PartitionKind {
    /// Two sides that cannot reach each other.
    Symmetric,
    /// One side cannot send to the other, but hears from it.
    Asymmetric,
    /// One node cut off from every other.
    Isolate,
    /// Two sides that cannot reach each other, and one node that reaches
    /// both (it can relay, and confuse leader election).
    Bridge,
}

impl fmt::Display for PartitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            PartitionKind::Symmetric => "symmetric",
            PartitionKind::Asymmetric => "asymmetric",
            PartitionKind::Isolate => "isolate",
            PartitionKind::Bridge => "bridge",
        };
        f.write_str(name)
    }
}

/// Links between `n` nodes (by position in the member list), each either
/// open or cut, one direction at a time.
#[derive(Clone, Debug)]
pub struct Network {
    nodes: usize,
    cut: Vec<bool>,
}

impl Network {
    /// A fully connected network of `nodes` nodes.
    pub fn new(nodes: usize) -> Self {
        Network {
            nodes,
            cut: vec![false; nodes * nodes],
        }
    }

    /// True when messages from `from` to `to` are lost.
    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        self.cut[from * self.nodes + to]
    }

    /// True when some link is cut.
    pub fn is_partitioned(&self) -> bool {
        self.cut.iter().any(|&cut| cut)
    }

    fn cut_between(&mut self, a: &[usize], b: &[usize], both_ways: bool) {
        for &x in a {
            for &y in b {
                self.cut[x * self.nodes + y] = true;
                if both_ways {
                    self.cut[y * self.nodes + x] = true;
                }
            }
        }
    }

    /// Reconnects every link.
    pub fn heal(&mut self) {
        self.cut.fill(false);
    }

    /// Cuts every link.
    pub fn cut_all(&mut self) {
        self.cut.fill(true);
    }

    /// Reconnects the link between `a` and `b`, both ways.
    pub fn connect(&mut self, a: usize, b: usize) {
        self.cut[a * self.nodes + b] = false;
        self.cut[b * self.nodes + a] = false;
    }

    /// Cuts every link to and from `node`.
    pub fn isolate(&mut self, node: usize) {
        let rest: Vec<usize> = (0..self.nodes).filter(|&other| other != node).collect();
        self.cut_between(&[node], &rest, true);
    }

    /// Cuts links in the shape of `kind`, on top of what is already cut.
    /// Returns a readable description of the cut.
    pub fn partition(&mut self, kind: PartitionKind, rng: &mut SeededRng) -> String {
        let mut order: Vec<usize> = (0..self.nodes).collect();
        // Fisher-Yates with the simulation's generator.
        for i in (1..order.len()).rev() {
            order.swap(i, rng.index(i + 1));
        }
        match kind {
            PartitionKind::Isolate => {
                let (alone, rest) = order.split_at(1);
                self.cut_between(alone, rest, true);
                format!("isolate {:?}", alone)
            }
            PartitionKind::Symmetric | PartitionKind::Asymmetric => {
                let split = 1 + rng.index(self.nodes - 1);
                let (a, b) = order.split_at(split);
                let both_ways = kind == PartitionKind::Symmetric;
                self.cut_between(a, b, both_ways);
                format!("{kind} {a:?} | {b:?}")
            }
            PartitionKind::Bridge => {
                let (bridge, rest) = order.split_at(1);
                let split = rest.len() / 2;
                let (a, b) = rest.split_at(split.max(1));
                self.cut_between(a, b, true);
                format!("bridge {bridge:?} between {a:?} | {b:?}")
            }
        }
    }
}

/// What the network does with one message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fate {
    /// Lost.
    Dropped,
    /// Delivered once after the delay.
    Delivered(u64),
    /// Delivered twice, after each delay.
    Duplicated(u64, u64),
}

/// Decides the fate of one message under `faults`; `tick_ns` converts the
/// long-delay bound from ticks.
pub fn fate(faults: &Faults, tick_ns: u64, rng: &mut SeededRng) -> Fate {
    if rng.chance(faults.loss) {
        return Fate::Dropped;
    }
    let delay = |rng: &mut SeededRng| {
        let base = faults.latency_ns.draw(rng);
        if rng.chance(faults.slow) {
            base + rng.between(0, faults.slow_ticks_max * tick_ns)
        } else {
            base
        }
    };
    let first = delay(rng);
    if rng.chance(faults.duplication) {
        Fate::Duplicated(first, delay(rng))
    } else {
        Fate::Delivered(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cut_the_links_their_shape_says() {
        let mut rng = SeededRng::new(3);
        for _ in 0..50 {
            let mut net = Network::new(5);
            net.partition(PartitionKind::Isolate, &mut rng);
            let isolated: Vec<usize> = (0..5)
                .filter(|&x| (0..5).all(|y| x == y || (net.is_cut(x, y) && net.is_cut(y, x))))
                .collect();
            assert_eq!(isolated.len(), 1);
            net.heal();
            assert!(!net.is_partitioned());

            net.partition(PartitionKind::Bridge, &mut rng);
            let bridges: Vec<usize> = (0..5)
                .filter(|&x| (0..5).all(|y| !net.is_cut(x, y) && !net.is_cut(y, x)))
                .collect();
            assert_eq!(bridges.len(), 1, "exactly one node reaches everyone");
            assert!(net.is_partitioned());
            net.heal();

            net.partition(PartitionKind::Asymmetric, &mut rng);
            let one_way = (0..5)
                .flat_map(|x| (0..5).map(move |y| (x, y)))
                .filter(|&(x, y)| net.is_cut(x, y))
                .all(|(x, y)| !net.is_cut(y, x));
            assert!(one_way && net.is_partitioned());
        }
    }
}
