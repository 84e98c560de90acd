//! The write path both protocols share: validate the whole batch, submit its writes in
//! order, wait for each to be committed, and turn the core's outcomes into one answer.

use std::time::Duration;

use omnirelay_core::node::{ClientWrite, Group, WriteOutcome, WriteRefusal};
use omnirelay_core::replication::FailoverVersion;
use omnirelay_core::routing::RetryReason;
use omnirelay_core::{ClusterId, NamespaceId, NodeId};
use omnirelay_proto::v1;

use super::ApiContext;
use super::directory::EndpointDirectory;
use super::error::ApiError;
use crate::node::{LeadershipChangeKind, LeadershipNotice};

/// gRPC metadata marking a batch a node forwarded to its cluster's leader: the leader
/// does not forward it again (no loops while leadership moves).
pub const FORWARDED_HEADER: &str = "x-omnirelay-forwarded";

/// How long a client waits when the cluster has no leader yet.
const NO_LEADER_RETRY: Duration = Duration::from_millis(200);

/// One batch of events for one namespace, as either protocol received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendBatch {
    /// The namespace.
    pub namespace: NamespaceId,
    /// `(key, payload)` of each event, in order.
    pub events: Vec<(Vec<u8>, Vec<u8>)>,
    /// The failover version the client last saw.
    pub fencing_token: Option<FailoverVersion>,
}

/// Where a committed batch landed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The cluster that accepted it.
    pub origin_cluster: ClusterId,
    /// Each event's `origin_seq`, in request order.
    pub origin_seqs: Vec<u64>,
    /// The fencing token the events carry.
    pub failover_version: FailoverVersion,
    /// The node that committed them (its cluster's leader then).
    pub committed_by: NodeId,
}

impl AppendBatch {
    /// Checks every event against the limits before anything is written, so a bad event
    /// fails the whole batch instead of leaving its predecessors written.
    pub fn validate(&self, max_key_bytes: usize, max_payload_bytes: usize) -> Result<(), ApiError> {
        if self.events.is_empty() {
            return Err(ApiError::BadRequest {
                problem: "events: at least one event is required".into(),
            });
        }
        for (index, (key, payload)) in self.events.iter().enumerate() {
            if key.is_empty() || key.len() > max_key_bytes {
                return Err(ApiError::BadRequest {
                    problem: format!(
                        "events[{index}].key is {} bytes: must be 1..={max_key_bytes} bytes",
                        key.len()
                    ),
                });
            }
            if payload.len() > max_payload_bytes {
                return Err(ApiError::PayloadTooLarge {
                    index,
                    size: payload.len(),
                    limit: max_payload_bytes,
                });
            }
        }
        Ok(())
    }

    /// The batch as a gRPC request (for forwarding).
    pub fn to_request(&self) -> v1::AppendRequest {
        v1::AppendRequest {
            namespace: self.namespace.as_str().to_owned(),
            events: self
                .events
                .iter()
                .map(|(key, payload)| v1::AppendEvent {
                    key: key.clone(),
                    payload: payload.clone(),
                })
                .collect(),
            fencing_token: self.fencing_token.map_or(0, |t| t.0),
        }
    }
}

impl ApiContext {
    /// Appends `batch`: answered once every event was committed by a majority of the
    /// active cluster. A node that does not lead its cluster forwards the batch to the
    /// leader unless `forwarded` (it came from another node already).
    pub async fn append(&self, batch: AppendBatch, forwarded: bool) -> Result<Appended, ApiError> {
        batch.validate(self.max_key_bytes, self.limits.max_payload_bytes)?;
        // All writes are queued before any is awaited, in order, so they commit in one
        // group and get consecutive `origin_seq`s.
        let writes = batch.events.iter().map(|(key, payload)| {
            let handle = self.handle.clone();
            let write = ClientWrite {
                request: 0,
                namespace: batch.namespace.clone(),
                key: key.clone(),
                payload: payload.clone(),
                token: batch.fencing_token,
            };
            async move { handle.write(write).await }
        });
        let outcomes = futures_util::future::join_all(writes).await;
        let mut accepted: Option<(ClusterId, FailoverVersion)> = None;
        let mut origin_seqs = Vec::with_capacity(outcomes.len());
        let mut failure = None;
        for outcome in outcomes {
            match outcome? {
                WriteOutcome::Accepted {
                    origin_cluster,
                    origin_seq,
                    failover_version,
                } if failure.is_none() => {
                    accepted.get_or_insert((origin_cluster, failover_version));
                    origin_seqs.push(origin_seq);
                }
                WriteOutcome::Accepted { .. } => {}
                other => {
                    failure.get_or_insert(other);
                }
            }
        }
        let Some(outcome) = failure else {
            let Some((origin_cluster, failover_version)) = accepted else {
                return Err(ApiError::BadRequest {
                    problem: "events: at least one event is required".into(),
                });
            };
            return Ok(Appended {
                origin_cluster,
                origin_seqs,
                failover_version,
                committed_by: self.handle.id(),
            });
        };
        let cause = match (outcome, &accepted) {
            (WriteOutcome::NotLeader { leader }, None) if !forwarded => {
                return self.forward(&batch, leader).await;
            }
            (outcome, _) => refusal(&self.directory, outcome),
        };
        match accepted {
            None => Err(cause),
            Some((origin_cluster, _)) => Err(ApiError::PartiallyWritten {
                origin_cluster,
                origin_seqs,
                cause: Box::new(cause),
            }),
        }
    }
}

/// The error a non-accepted outcome stands for; redirects pick one of the active
/// cluster's endpoints from `directory`.
fn refusal(directory: &EndpointDirectory, outcome: WriteOutcome) -> ApiError {
    match outcome {
        WriteOutcome::Accepted { .. } => ApiError::Upstream {
            code: tonic::Code::Internal,
            message: "accepted write counted as refused".into(),
        },
        WriteOutcome::Redirect {
            active_cluster,
            endpoints,
            ..
        } => match directory.pick(&endpoints) {
            Some(endpoint) => ApiError::Elsewhere {
                why: format!(
                    "cluster {} is active for this namespace",
                    active_cluster.as_str()
                ),
                cluster: Some(active_cluster),
                endpoint,
            },
            None => ApiError::RetryLater {
                reason: format!(
                    "cluster {} is active but lists no client endpoint",
                    active_cluster.as_str()
                ),
                retry_after: NO_LEADER_RETRY,
            },
        },
        WriteOutcome::NotLeader { leader } => ApiError::RetryLater {
            reason: match leader {
                Some(l) => format!("leadership moved to {l} while the write was in flight"),
                None => "the cluster has no leader right now".into(),
            },
            retry_after: NO_LEADER_RETRY,
        },
        // gRPC's own word for "may or may not have happened": the client must not assume
        // the write is absent (a blind retry may write it twice).
        WriteOutcome::Unknown { leader } => ApiError::Upstream {
            code: tonic::Code::Unavailable,
            message: format!(
                "outcome unknown: the leader lost leadership while committing this write; it may \
                 have been written (new leader: {})",
                leader.map_or_else(|| "none yet".to_string(), |l| l.to_string())
            ),
        },
        WriteOutcome::RetryLater {
            reason: RetryReason::Fenced,
            retry_after,
        } => ApiError::Fenced { retry_after },
        WriteOutcome::RetryLater {
            reason,
            retry_after,
        } => ApiError::RetryLater {
            reason: match reason {
                RetryReason::Draining => "the namespace is draining for a planned failover",
                RetryReason::Fenced => "the namespace is fenced by a failover",
                RetryReason::RegistryBehind => "this cluster's view of the registry is behind",
            }
            .into(),
            retry_after,
        },
        WriteOutcome::Refused(refusal) => match refusal {
            WriteRefusal::UnknownNamespace(ns) => ApiError::UnknownNamespace(ns),
            WriteRefusal::StaleFencingToken {
                namespace,
                offered,
                current,
            } => ApiError::StaleFencingToken {
                namespace,
                offered,
                current,
            },
            WriteRefusal::PayloadTooLarge { size, limit } => ApiError::PayloadTooLarge {
                index: 0,
                size,
                limit,
            },
            WriteRefusal::BadKey { .. } => ApiError::BadRequest {
                problem: format!("key: {refusal}"),
            },
            WriteRefusal::Witness => ApiError::Witness,
        },
    }
}

impl ApiContext {
    /// Sends the batch to the cluster's leader over the client API's gRPC form.
    async fn forward(
        &self,
        batch: &AppendBatch,
        leader: Option<NodeId>,
    ) -> Result<Appended, ApiError> {
        let no_leader = || ApiError::RetryLater {
            reason: "the cluster has no leader right now".into(),
            retry_after: NO_LEADER_RETRY,
        };
        let leader = leader
            .filter(|l| *l != self.handle.id())
            .ok_or_else(no_leader)?;
        let endpoint = self.directory.node(leader).ok_or_else(no_leader)?;
        let mut client = self
            .forwarder
            .client(endpoint)
            .map_err(|e| ApiError::RetryLater {
                reason: format!("cannot reach the cluster leader {leader} at {endpoint}: {e}"),
                retry_after: NO_LEADER_RETRY,
            })?;
        let mut request = tonic::Request::new(batch.to_request());
        request.metadata_mut().insert(
            FORWARDED_HEADER,
            tonic::metadata::MetadataValue::from_static("1"),
        );
        // A leader that crashed answers nothing: its connection looks alive until keepalive
        // gives up, seconds later. Once this node learns another leader, the forwarded
        // write's fate is decided (committed by the old leader or lost with it), so the
        // client is told at once that the outcome is unknown and can go on.
        let mut leadership = self.handle.leadership_events();
        let reply = tokio::select! {
            biased;
            reply = client.append(request) => reply,
            successor = another_cluster_leader(&mut leadership, leader) => {
                return Err(ApiError::Upstream {
                    code: tonic::Code::Unavailable,
                    message: format!(
                        "outcome unknown: {successor} now leads the cluster; the write forwarded \
                         to the previous leader {leader} may have been written"
                    ),
                });
            }
        };
        let reply = reply
            .map_err(|status| match status.code() {
                // The leader died or is unreachable: the client retries, the cluster elects.
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                    if status
                        .metadata()
                        .get(super::error::RETRY_AFTER_MS_HEADER)
                        .is_none() =>
                {
                    ApiError::RetryLater {
                        reason: format!(
                            "forwarding to the cluster leader {leader} failed: {}",
                            status.message()
                        ),
                        retry_after: NO_LEADER_RETRY,
                    }
                }
                _ => ApiError::from_status(&status),
            })?
            .into_inner();
        let origin_cluster =
            ClusterId::new(&reply.origin_cluster).map_err(|e| ApiError::Upstream {
                code: tonic::Code::Internal,
                message: format!(
                    "leader answered origin_cluster {:?}: {e}",
                    reply.origin_cluster
                ),
            })?;
        Ok(Appended {
            origin_cluster,
            origin_seqs: reply.origin_seqs,
            failover_version: FailoverVersion(reply.failover_version),
            committed_by: NodeId(reply.committed_by),
        })
    }
}

/// Waits until a leadership notice names a cluster leader other than `leader`, and
/// returns it. Never returns if none comes (the node stopped: the forward's own answer
/// decides then). A lagged receiver missed notices, so it keeps waiting for the next one.
async fn another_cluster_leader(
    notices: &mut tokio::sync::broadcast::Receiver<LeadershipNotice>,
    leader: NodeId,
) -> NodeId {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match notices.recv().await {
            Ok(LeadershipNotice {
                group: Group::Cluster,
                change: LeadershipChangeKind::Elected { leader: next, .. },
                ..
            }) if next != leader => return next,
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::FENCED_HEADER;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use crate::api::error::HttpError;
    use futures_util::FutureExt;
    use omnirelay_core::consensus::{StepDownReason, Term};
    use tokio::sync::broadcast;

    fn notice(group: Group, change: LeadershipChangeKind) -> LeadershipNotice {
        LeadershipNotice {
            group,
            change,
            at_unix_nanos: 0,
        }
    }

    fn elected(leader: u64) -> LeadershipChangeKind {
        LeadershipChangeKind::Elected {
            leader: NodeId(leader),
            term: Term(2),
            election: Duration::ZERO,
        }
    }

    #[tokio::test]
    async fn a_forward_is_given_up_only_when_another_cluster_leader_is_elected() {
        let (tx, mut rx) = broadcast::channel(16);
        let mut wait = Box::pin(another_cluster_leader(&mut rx, NodeId(3)));
        // The leader it forwards to re-announced, the control group's election, and a
        // step-down say nothing about who commits the write now.
        tx.send(notice(Group::Cluster, elected(3))).unwrap();
        tx.send(notice(Group::Control, elected(5))).unwrap();
        let stepped_down = LeadershipChangeKind::SteppedDown {
            term: Term(1),
            reason: StepDownReason::LostQuorum,
        };
        tx.send(notice(Group::Cluster, stepped_down)).unwrap();
        assert_eq!((&mut wait).now_or_never(), None);
        tx.send(notice(Group::Cluster, elected(1))).unwrap();
        assert_eq!(wait.await, NodeId(1));
    }

    #[tokio::test]
    async fn a_lagged_receiver_keeps_waiting_for_the_next_leader() {
        let (tx, mut rx) = broadcast::channel(1);
        tx.send(notice(Group::Control, elected(5))).unwrap();
        tx.send(notice(Group::Control, elected(6))).unwrap();
        let mut wait = Box::pin(another_cluster_leader(&mut rx, NodeId(3)));
        assert_eq!(
            (&mut wait).now_or_never(),
            None,
            "lagged is not a new leader"
        );
        tx.send(notice(Group::Cluster, elected(2))).unwrap();
        assert_eq!(wait.await, NodeId(2));
    }

    fn http(error: ApiError) -> axum::response::Response {
        HttpError {
            error,
            path_and_query: "/v1/namespaces/orders/events".into(),
        }
        .into_response()
    }

    /// Issue #6: "draining/fenced -> 503 + Retry-After" (ARCHITECTURE.md, planned failover
    /// `drain`: clients are told to retry).
    #[test]
    fn draining_and_fenced_namespaces_answer_503_with_retry_after() {
        let directory = EndpointDirectory::default();
        for reason in [RetryReason::Draining, RetryReason::Fenced] {
            let error = refusal(
                &directory,
                WriteOutcome::RetryLater {
                    reason,
                    retry_after: Duration::from_millis(200),
                },
            );
            let response = http(error.clone());
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(
                response.headers()["retry-after"],
                "1",
                "rounded up to a second"
            );
            let fenced = reason == RetryReason::Fenced;
            assert_eq!(response.headers().contains_key(FENCED_HEADER), fenced);
            let status = error.into_status();
            assert_eq!(status.code(), tonic::Code::Unavailable);
            assert_eq!(status.metadata().get("retry-after-ms").unwrap(), "200");
            // A client learns "try another region" from the metadata, and a forwarding
            // node passes the same answer on.
            assert_eq!(status.metadata().contains_key(FENCED_HEADER), fenced);
            assert_eq!(
                matches!(ApiError::from_status(&status), ApiError::Fenced { .. }),
                fenced
            );
        }
    }

    #[test]
    fn a_redirect_names_the_active_cluster_endpoint_over_https_with_the_same_path() {
        let directory = EndpointDirectory::default();
        let error = refusal(
            &directory,
            WriteOutcome::Redirect {
                active_cluster: ClusterId::new("a").unwrap(),
                endpoints: vec!["http://10.0.0.1:8080".into()],
                nodes: vec![],
            },
        );
        let response = http(error.clone());
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            response.headers()["location"],
            "https://10.0.0.1:8080/v1/namespaces/orders/events"
        );
        let status = error.into_status();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            status
                .metadata()
                .get("x-omnirelay-active-endpoint")
                .unwrap(),
            "https://10.0.0.1:8080"
        );
    }

    #[test]
    fn a_forwarded_status_reads_back_as_the_same_error() {
        let original = ApiError::Elsewhere {
            cluster: None,
            endpoint: "https://h:1".into(),
            why: "cluster b is active".into(),
        };
        let back = ApiError::from_status(&original.clone().into_status());
        assert!(
            matches!(back, ApiError::Elsewhere { ref endpoint, .. } if endpoint == "https://h:1")
        );
        let retry = ApiError::RetryLater {
            reason: "draining".into(),
            retry_after: Duration::from_millis(300),
        };
        let back = ApiError::from_status(&retry.into_status());
        assert!(
            matches!(back, ApiError::RetryLater { retry_after, .. } if retry_after == Duration::from_millis(300))
        );
    }

    #[test]
    fn a_batch_with_one_bad_event_is_refused_whole() {
        let batch = AppendBatch {
            namespace: NamespaceId::new("orders").unwrap(),
            events: vec![(b"k".to_vec(), b"v".to_vec()), (Vec::new(), b"v".to_vec())],
            fencing_token: None,
        };
        let error = batch.validate(16, 16).unwrap_err();
        assert!(error.to_string().contains("events[1].key"), "{error}");
        let batch = AppendBatch {
            events: vec![(b"k".to_vec(), vec![0; 17])],
            ..batch
        };
        assert!(matches!(
            batch.validate(16, 16),
            Err(ApiError::PayloadTooLarge {
                index: 0,
                size: 17,
                limit: 16
            })
        ));
    }
}
