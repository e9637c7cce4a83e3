//! The Quorate node: runs one protocol instance on tokio.
//!
//! A [`Node`] is assembled with a [`NodeBuilder`] from a protocol config, a
//! [`Transport`](quorate_core::Transport), a [`Storage`](quorate_core::Storage)
//! and a [`StateMachine`](quorate_core::StateMachine):
//!
//! ```text
//! let node = Node::builder(NodeId(1), raft::Config { members, ..Default::default() })
//!     .transport(network.join(NodeId(1)))
//!     .storage(MemStorage::new())
//!     .state_machine(Kv::default())
//!     .start()
//!     .await?;
//! let response = node.submit(Command::Put { key, value }).await?;
//! ```
//!
//! One driver task per node owns the protocol and carries out its
//! [`Ready`](quorate_core::Ready) batches in the order the Ready contract
//! prescribes: send what may leave at once, persist, send what depends on
//! the persisted state, apply decided outputs and answer their submitters,
//! advance. It is the only place in Quorate that does so, and the only place
//! that encodes protocol messages and commands (see [`wire`]).
#![deny(missing_docs)]

mod builder;
mod driver;
mod handle;
mod options;
mod pending;
mod sync;
pub mod wire;

pub use builder::{
    Given, HasStateMachine, HasStorage, HasTransport, NoStateMachine, NoStorage, NoTransport,
    NodeBuilder, StartError,
};
pub use handle::{Node, NodeStatus};
pub use options::NodeOptions;
