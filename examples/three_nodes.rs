//! A three-node Raft cluster in one process: write, read, kill the leader,
//! and watch a new leader take over without losing the write.
//!
//! Run with `cargo run --example three_nodes`.

use quorate::prelude::*;
use quorate_core::Role;
use std::collections::BTreeMap;
use std::time::Duration;

type KvNode = Node<quorate::raft::Raft, Kv>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let members = vec![NodeId(1), NodeId(2), NodeId(3)];
    let network = MemNetwork::new();
    let mut nodes: BTreeMap<NodeId, KvNode> = BTreeMap::new();
    for &id in &members {
        let config = RaftConfig {
            members: members.clone(),
            ..RaftConfig::default()
        };
        let node = Node::builder(id, config)
            .transport(network.join(id))
            .storage(MemStorage::new())
            .state_machine(Kv::new())
            .options(NodeOptions {
                tick_interval: Duration::from_millis(10),
                ..NodeOptions::default()
            })
            .start()
            .await?;
        nodes.insert(id, node);
    }
    println!("started nodes {members:?}");

    let leader = wait_for_leader(&nodes).await;
    println!("{leader} leads");

    let put = Command::Put {
        key: "greeting".into(),
        value: "hello".into(),
    };
    println!(
        "put greeting=hello -> {:?}",
        nodes[&leader].submit(put).await?
    );
    let get = Command::Get {
        key: "greeting".into(),
    };
    println!(
        "get greeting -> {:?}",
        nodes[&leader].submit(get.clone()).await?
    );

    println!("killing the leader {leader}");
    nodes
        .remove(&leader)
        .expect("leader is running")
        .shutdown()
        .await;

    let new_leader = wait_for_leader(&nodes).await;
    println!("{new_leader} leads now");
    println!(
        "get greeting from {new_leader} -> {:?}",
        nodes[&new_leader].submit(get).await?
    );
    let put = Command::Put {
        key: "greeting".into(),
        value: "hello again".into(),
    };
    println!(
        "put greeting=hello again -> {:?}",
        nodes[&new_leader].submit(put).await?
    );

    for node in nodes.values() {
        let status = node.status().await;
        println!(
            "{}: {:?} in term {}, applied up to {}",
            node.id(),
            status.protocol.role,
            status.protocol.term,
            status.applied_index
        );
        node.shutdown().await;
    }
    Ok(())
}

/// Polls the nodes until one of them leads.
async fn wait_for_leader(nodes: &BTreeMap<NodeId, KvNode>) -> NodeId {
    loop {
        for (id, node) in nodes {
            if node.status().await.protocol.role == Role::Leader {
                return *id;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
