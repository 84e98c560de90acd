//! Properties of `ClusterVersionVector` (ARCHITECTURE.md, vocabulary: "Merge = pointwise
//! max; compare = partial order").

use omnirelay_core::ClusterId;
use omnirelay_core::replication::{ClusterVersionVector, VersionOrdering};
use proptest::prelude::*;

const CLUSTERS: [&str; 4] = ["ap-south", "eu-west", "us-east", "us-west.2"];

/// Small values over few clusters, so that equal, ordered and concurrent pairs all occur.
fn vv() -> impl Strategy<Value = ClusterVersionVector> {
    prop::collection::vec(0u64..4, CLUSTERS.len()).prop_map(|seqs| {
        let mut vv = ClusterVersionVector::new();
        for (name, seq) in CLUSTERS.iter().zip(seqs) {
            let origin = ClusterId::new(name).expect("valid test cluster id");
            vv.set(&origin, seq);
        }
        vv
    })
}

/// Any value, including ones near `u64::MAX`, for the text form.
fn wide_vv() -> impl Strategy<Value = ClusterVersionVector> {
    prop::collection::vec(prop_oneof![Just(0u64), any::<u64>()], CLUSTERS.len()).prop_map(|seqs| {
        let mut vv = ClusterVersionVector::new();
        for (name, seq) in CLUSTERS.iter().zip(seqs) {
            let origin = ClusterId::new(name).expect("valid test cluster id");
            vv.set(&origin, seq);
        }
        vv
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn merge_is_commutative(a in vv(), b in vv()) {
        prop_assert_eq!(a.merged(&b), b.merged(&a));
    }

    #[test]
    fn merge_is_associative(a in vv(), b in vv(), c in vv()) {
        prop_assert_eq!(a.merged(&b).merged(&c), a.merged(&b.merged(&c)));
    }

    #[test]
    fn merge_is_idempotent(a in vv(), b in vv()) {
        prop_assert_eq!(a.merged(&a), a.clone());
        let ab = a.merged(&b);
        prop_assert_eq!(ab.merged(&b), ab);
    }

    #[test]
    fn merge_is_the_least_upper_bound(a in vv(), b in vv()) {
        let ab = a.merged(&b);
        prop_assert!(ab.dominates(&a) && ab.dominates(&b));
        for (origin, seq) in ab.iter() {
            prop_assert_eq!(seq, a.get(origin).max(b.get(origin)));
        }
    }

    #[test]
    fn compare_agrees_with_merge(a in vv(), b in vv()) {
        let ordering = a.compare(&b);
        // a <= b iff merge(a, b) == b.
        let a_le_b = a.merged(&b) == b;
        let b_le_a = b.merged(&a) == a;
        prop_assert_eq!(a.dominates(&b), b_le_a);
        prop_assert_eq!(b.dominates(&a), a_le_b);
        let expected = match (a_le_b, b_le_a) {
            (true, true) => VersionOrdering::Equal,
            (true, false) => VersionOrdering::Before,
            (false, true) => VersionOrdering::After,
            (false, false) => VersionOrdering::Concurrent,
        };
        prop_assert_eq!(ordering, expected);
        prop_assert_eq!(ordering == VersionOrdering::Equal, a == b);
        // The order is antisymmetric: b sees the mirror image.
        let mirrored = match ordering {
            VersionOrdering::Before => VersionOrdering::After,
            VersionOrdering::After => VersionOrdering::Before,
            other => other,
        };
        prop_assert_eq!(b.compare(&a), mirrored);
    }

    #[test]
    fn text_form_round_trips(a in wide_vv()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<ClusterVersionVector>(), Ok(a));
        prop_assert!(!text.contains(' '));
    }

    #[test]
    fn text_form_is_independent_of_insertion_order(a in vv(), b in vv()) {
        // Built in two orders, printed once: sorted output means equal vectors print equal.
        let ab = a.merged(&b);
        let ba = b.merged(&a);
        prop_assert_eq!(ab.to_string(), ba.to_string());
    }
}
