//! Issue 15, item 6 (in part): `setup-tables` protects the ledger: deletion protection
//! and point-in-time recovery on, idempotently, and what the endpoint does not support is
//! said, not failed. Against DynamoDB Local, which honours deletion protection (a
//! `DeleteTable` is refused) but not backups (reported as unsupported).

use crate::common::*;
use votechain::tables::{self, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_tables_protects_the_ledger_from_deletion() {
    let env = TestEnv::new("protect", 1, DEMO).await;
    let (db, table) = (&env.ledger.db, &env.ledger.table);
    let first = tables::protect_ledger(db, table).await.unwrap();
    let again = tables::protect_ledger(db, table).await.unwrap();
    assert_eq!(first, again, "idempotent");
    eprintln!("DynamoDB Local: {first:?}");
    assert_eq!(first.deletion_protection, Outcome::On);
    let described = db.describe_table().table_name(table).send().await.unwrap();
    assert_eq!(
        described
            .table()
            .and_then(|t| t.deletion_protection_enabled()),
        Some(true)
    );
    let refused = db.delete_table().table_name(table).send().await;
    assert!(
        refused.is_err(),
        "DeleteTable of a protected ledger: {refused:?}"
    );
    match &first.point_in_time_recovery {
        Outcome::On => {
            let b = db
                .describe_continuous_backups()
                .table_name(table)
                .send()
                .await
                .unwrap();
            let pitr = b
                .continuous_backups_description()
                .and_then(|d| d.point_in_time_recovery_description())
                .and_then(|p| p.point_in_time_recovery_status())
                .map(|s| s.as_str().to_string());
            assert_eq!(pitr.as_deref(), Some("ENABLED"));
        }
        // DynamoDB Local: "UnknownOperationException" (it keeps no backups).
        Outcome::Unsupported(why) => assert!(why.contains("UnknownOperation"), "{why}"),
    }
}
