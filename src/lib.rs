//! Quorate: a multi-protocol, pluggable consensus framework.
//!
//! This facade re-exports the workspace's crates under one name and offers a
//! [`prelude`] with what an application needs to assemble a node:
//!
//! ```no_run
//! use quorate::prelude::*;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let members = vec![NodeId(1), NodeId(2), NodeId(3)];
//! let network = MemNetwork::new();
//! let node = Node::builder(NodeId(1), RaftConfig { members, ..Default::default() })
//!     .transport(network.join(NodeId(1)))
//!     .storage(MemStorage::new())
//!     .state_machine(Kv::new())
//!     .start()
//!     .await?;
//! let answer = node
//!     .submit(Command::Put { key: "k".into(), value: "v".into() })
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! Swapping a component is one builder call; the protocol follows from the
//! config value given to [`Node::builder`](quorate_node::Node::builder).
#![deny(missing_docs)]

mod local;

pub use local::LocalCluster;
pub use quorate_core as core;
pub use quorate_kv as kv;
pub use quorate_node as node;
pub use quorate_raft as raft;
pub use quorate_storage as storage;
pub use quorate_transport as transport;

/// The names most applications use.
pub mod prelude {
    pub use crate::LocalCluster;
    pub use quorate_core::{
        Consensus, NodeId, Protocol, ProtocolConfig, StateMachine, Storage, SubmitError, Transport,
    };
    pub use quorate_kv::{Command, Kv, Response};
    pub use quorate_node::{Node, NodeOptions, NodeStatus, StartError};
    pub use quorate_raft::Config as RaftConfig;
    pub use quorate_storage::MemStorage;
    pub use quorate_transport::{
        FaultControl, FaultLayer, FaultOptions, FaultTransport, MemNetwork, MemTransport,
    };
}
