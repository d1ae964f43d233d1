//! A vault writer killed with SIGKILL at random moments during 200 writes: the vault opens
//! every time, nothing acknowledged is lost, nothing is corrupt.

use nyckel_tests::durability::Campaign;

#[test]
fn no_acknowledged_write_is_lost_across_random_kills() {
    let dir = tempfile::tempdir().unwrap();
    let campaign = Campaign {
        writer: env!("CARGO_BIN_EXE_nyckel-soak").into(),
        vault: dir.path().join("vault"),
        kills: u64::MAX,
        writes: 200,
    };
    let report = campaign.run(|_| {}).unwrap_or_else(|error| panic!("{error}"));
    assert!(report.acknowledged >= 200, "{report:?}");
    assert!(report.kills >= 50, "kills must interrupt the writes often: {report:?}");
    assert_eq!((report.lost, report.corrupt), (0, 0), "{report:?}");
    assert_eq!(report.verified_opens, report.kills);
}
