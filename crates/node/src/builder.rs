//! [`NodeBuilder`]: assembles a node from a protocol config and its
//! components.
//!
//! The builder is typed by what it has been given: a missing transport,
//! storage or state machine is a compile error at `.start()` that names the
//! call to add.

use crate::driver::{Driver, Inbox};
use crate::handle::{Channels, Node, Shared};
use crate::options::NodeOptions;
use crate::pending::PendingTable;
use crate::sync::Arc;
use crate::wire;
use quorate_core::{
    ConfigError, Consensus, NodeId, Protocol, ProtocolConfig, StateMachine, Storage, StorageError,
    Transport,
};
use std::marker::PhantomData;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

/// Capacity of the queue for status queries and shutdown requests.
const CONTROL_QUEUE_CAPACITY: usize = 64;

/// Why a node could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The protocol config or the node options are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage failed to recover, or recovered state was rejected.
    #[error("recovery failed: {0}")]
    Storage(#[from] StorageError),
}

/// The builder has no transport yet.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTransport;

/// The builder has no storage yet.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoStorage;

/// The builder has no state machine yet. `S` is the state machine type it
/// will get, inferred from the `.state_machine(...)` call.
pub struct NoStateMachine<S>(PhantomData<fn() -> S>);

impl<S> std::fmt::Debug for NoStateMachine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoStateMachine")
    }
}

/// A component the builder has been given.
#[derive(Debug)]
pub struct Given<T>(T);

/// Implemented by a builder that has a transport.
#[diagnostic::on_unimplemented(
    message = "the node has no transport: call `.transport(...)` before `.start()`",
    label = "this builder has no transport",
    note = "for tests and examples: `.transport(quorate_transport::MemNetwork::new().join(id))`"
)]
pub trait HasTransport {
    /// The transport given.
    type Transport: Transport;
    /// Takes it out.
    fn into_transport(self) -> Self::Transport;
}

impl<T: Transport> HasTransport for Given<T> {
    type Transport = T;
    fn into_transport(self) -> T {
        self.0
    }
}

/// Implemented by a builder that has a storage.
#[diagnostic::on_unimplemented(
    message = "the node has no storage: call `.storage(...)` before `.start()`",
    label = "this builder has no storage",
    note = "for tests and examples: `.storage(quorate_storage::MemStorage::new())`"
)]
pub trait HasStorage {
    /// The storage given.
    type Storage: Storage;
    /// Takes it out.
    fn into_storage(self) -> Self::Storage;
}

impl<St: Storage> HasStorage for Given<St> {
    type Storage = St;
    fn into_storage(self) -> St {
        self.0
    }
}

/// Implemented by a builder that has a state machine.
#[diagnostic::on_unimplemented(
    message = "the node has no state machine: call `.state_machine(...)` before `.start()`",
    label = "this builder has no state machine"
)]
pub trait HasStateMachine {
    /// The state machine given.
    type StateMachine: StateMachine;
    /// Takes it out.
    fn into_state_machine(self) -> Self::StateMachine;
}

impl<S: StateMachine> HasStateMachine for Given<S> {
    type StateMachine = S;
    fn into_state_machine(self) -> S {
        self.0
    }
}

/// Assembles a [`Node`]. Made by [`Node::builder`] or [`NodeBuilder::new`].
///
/// The protocol is inferred from the config's type, so swapping protocols is
/// swapping the config value. Leaving out a component is a compile error:
///
/// ```compile_fail,E0277
/// # async fn doc<C: quorate_core::ProtocolConfig, S: quorate_core::StateMachine>(config: C, sm: S)
/// # where C::Protocol: quorate_core::Consensus {
/// use quorate_core::NodeId;
/// use quorate_node::NodeBuilder;
/// // error: the node has no transport: call `.transport(...)` before `.start()`
/// let node = NodeBuilder::new(NodeId(1), config)
///     .storage(quorate_storage::MemStorage::new())
///     .state_machine(sm)
///     .start()
///     .await;
/// # }
/// ```
#[derive(Debug)]
pub struct NodeBuilder<C, T, St, S> {
    id: NodeId,
    config: C,
    options: NodeOptions,
    transport: T,
    storage: St,
    state_machine: S,
}

impl<P: Consensus, S: StateMachine> Node<P, S> {
    /// Starts building node `id` running the protocol `config` configures.
    pub fn builder<C>(
        id: NodeId,
        config: C,
    ) -> NodeBuilder<C, NoTransport, NoStorage, NoStateMachine<S>>
    where
        C: ProtocolConfig<Protocol = P>,
    {
        NodeBuilder::new(id, config)
    }
}

impl<C: ProtocolConfig, S> NodeBuilder<C, NoTransport, NoStorage, NoStateMachine<S>> {
    /// Starts building node `id` running the protocol `config` configures.
    pub fn new(id: NodeId, config: C) -> Self {
        NodeBuilder {
            id,
            config,
            options: NodeOptions::default(),
            transport: NoTransport,
            storage: NoStorage,
            state_machine: NoStateMachine(PhantomData),
        }
    }
}

impl<C, T, St, S> NodeBuilder<C, T, St, NoStateMachine<S>> {
    /// The state machine committed commands are applied to.
    pub fn state_machine(self, state_machine: S) -> NodeBuilder<C, T, St, Given<S>>
    where
        S: StateMachine,
    {
        NodeBuilder {
            id: self.id,
            config: self.config,
            options: self.options,
            transport: self.transport,
            storage: self.storage,
            state_machine: Given(state_machine),
        }
    }
}

impl<C, T, St, S> NodeBuilder<C, T, St, S> {
    /// The transport that carries this node's frames.
    pub fn transport<T2: Transport>(self, transport: T2) -> NodeBuilder<C, Given<T2>, St, S> {
        NodeBuilder {
            id: self.id,
            config: self.config,
            options: self.options,
            transport: Given(transport),
            storage: self.storage,
            state_machine: self.state_machine,
        }
    }

    /// The storage that makes this node's protocol state durable. A storage
    /// that already holds state (a restart) is recovered from.
    pub fn storage<St2: Storage>(self, storage: St2) -> NodeBuilder<C, T, Given<St2>, S> {
        NodeBuilder {
            id: self.id,
            config: self.config,
            options: self.options,
            transport: self.transport,
            storage: Given(storage),
            state_machine: self.state_machine,
        }
    }

    /// The driver's tunables (tick interval, mailbox capacity...).
    pub fn options(mut self, options: NodeOptions) -> Self {
        self.options = options;
        self
    }

    /// Validates the config and options, recovers storage, restores the state
    /// machine from a recovered snapshot, restores the protocol, and spawns
    /// the driver task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`StartError::Config`] for an invalid config or options;
    /// [`StartError::Storage`] when recovery fails.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start<Tr, Sto, Sm>(self) -> Result<Node<C::Protocol, Sm>, StartError>
    where
        C: ProtocolConfig,
        C::Protocol: Consensus,
        T: HasTransport<Transport = Tr>,
        St: HasStorage<Storage = Sto>,
        S: HasStateMachine<StateMachine = Sm>,
        Tr: Transport,
        Sto: Storage,
        Sm: StateMachine,
    {
        let NodeBuilder {
            id,
            config,
            options,
            transport,
            storage,
            state_machine,
        } = self;
        config.validate()?;
        options.validate()?;
        let transport = transport.into_transport();
        let mut storage = storage.into_storage();
        let mut state_machine = state_machine.into_state_machine();

        let recovered = storage.recover().await?;
        let mut applied_index = 0;
        if let Some(snapshot) = &recovered.snapshot {
            state_machine.restore(&snapshot.data)?;
            applied_index = snapshot.meta.last_index;
        }
        let protocol = <C::Protocol as Protocol>::restore(id, config, recovered)?;

        let (mailbox_tx, mailbox_rx) = mpsc::channel(options.mailbox_capacity);
        // Status queries and shutdown are few; a small queue suffices and
        // keeps them from waiting behind a full mailbox.
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE_CAPACITY);
        let (exited_tx, exited_rx) = watch::channel(false);
        let shared = Arc::new(Shared::default());

        let driver = Driver {
            id,
            pending: PendingTable::new(options.pending_requests_max),
            options: options.clone(),
            protocol,
            state_machine,
            transport,
            storage,
            inbox: Inbox {
                mailbox: mailbox_rx,
                control: control_rx,
            },
            shared: Arc::clone(&shared),
            staged: Vec::new(),
            command_batch: wire::CommandBatch::default(),
            received: Vec::new(),
            applied_index,
            snapshot_due_index: 0,
            unsnapshotted_bytes: 0,
            garbage_frames: 0,
            undecodable_commands: 0,
            more_ready: false,
            transport_closed: false,
        };
        let span = tracing::info_span!("node", id = %id, group = options.group.0);
        tokio::spawn(driver.run(exited_tx).instrument(span));

        let channels = Channels {
            mailbox: mailbox_tx,
            control: control_tx,
            exited: exited_rx,
        };
        Ok(Node::new(id, channels, shared))
    }
}
