//! The peer transport's inbound check (issue #6: "the peer's node id taken from its
//! certificate and checked against what it claims"): an envelope is accepted only when its
//! `from` is the node named in the sender's certificate and its `to` is this node.

mod node_support;

use node_support::TestMesh;
use omnirelay_core::NodeId;
use omnirelay_core::consensus::{Message, Term};
use omnirelay_core::node::NodeMessage;
use omnirelay_io::convert::node::envelope_to_wire;
use omnirelay_io::transport::{ClientSettings, Dialer, TokioNetwork};
use omnirelay_proto::v1::node_transport_client::NodeTransportClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_claiming_another_sender_or_addressed_elsewhere_are_refused() {
    let mesh = TestMesh::two_clusters_of_three();
    let node = mesh.start(1).await;
    let dialer = Dialer::new(TokioNetwork, &mesh.material(5), ClientSettings::default()).unwrap();
    let channel = dialer
        .connect(&node.grpc_addr().to_string())
        .await
        .expect("n5's certificate is accepted");
    let mut client = NodeTransportClient::new(channel);
    let message = NodeMessage::Cluster(Message::TimeoutNow { term: Term(0) });
    let honest = envelope_to_wire(NodeId(5), NodeId(1), &message).unwrap();
    let spoofed = envelope_to_wire(NodeId(2), NodeId(1), &message).unwrap();
    let misaddressed = envelope_to_wire(NodeId(5), NodeId(3), &message).unwrap();
    let ack = client
        .deliver(tokio_stream::iter(vec![honest, spoofed, misaddressed]))
        .await
        .expect("the stream is served")
        .into_inner();
    assert_eq!(ack.received, 3);
    assert_eq!(
        ack.refused, 2,
        "only the envelope from n5 to n1 is accepted"
    );
    node.shutdown().await;
}
