//! `hrm show ID`: an entry's on-chain state, and its record when the signer can open it (the
//! opening is logged in the access log).

use clap::Args;
use hrm::access::{AccessLog, Reader, RecordParties, log_entry_read, read_rule};
use hrm::exchange::EnvelopeFinder;
use hrm::store::archive::archive_id;
use hrm::submission::open_submission_as;
use serde_json::json;

use super::context::Context;
use super::output::{key_value_table, print_json};

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The entry id
    pub id: u64,
}

pub async fn run(context: &Context, args: ShowArgs) -> eyre::Result<()> {
    let connection = context.connect().await?;
    // Without --from, or when the signer is not a recipient, only metadata is shown.
    let signer = match context.global.from {
        Some(_) => Some(context.signer(&connection)?),
        None => None,
    };
    let consortium = connection.attach(&context.deployments()).await?;
    let entry = consortium.entry(args.id).await?;
    let submission = consortium.submission(args.id).await?;
    let panel = consortium.entry_panel(args.id).await?;
    // A recipient finds the envelope in its database, or pulls it from the submitter's server. A
    // hospital always has its database (the read is logged there); a patient may have none, and
    // then pulls the envelope each time and keeps nothing.
    let is_hospital = match &signer {
        Some(signer) => consortium.is_hospital(signer.address()).await?,
        None => false,
    };
    let archive = match &signer {
        Some(_) if !is_hospital => context.configured_archive().await?,
        Some(_) => Some(context.archive().await?),
        None => None,
    };
    // The patient's account now, which may not be the one the entry names: their guardians may
    // have moved them since, and hospitals re-sealed their records to the new account.
    let patient = consortium.current_account_of(entry.patient).await?;
    let opened = match &signer {
        Some(signer) if consortium.is_recipient(args.id, signer.address()).await? => {
            let finder = EnvelopeFinder { consortium: &consortium, archive: archive.as_ref(), signer: Some(signer) };
            let envelope = if !is_hospital && signer.address() != entry.patient {
                finder.resealed_copy_of(&submission).await?
            } else {
                finder.envelope_of(&submission).await?
            };
            let key = context.identities.sealing_keys.recipient_key(signer)?;
            open_submission_as(&submission, &envelope, &key)?
        }
        _ => None,
    };
    // Opening the envelope reads the record: logged (and a failed attempt too) before anything
    // is printed, so that no read goes unrecorded.
    if let (Some(signer), Some(archive)) = (&signer, &archive) {
        let parties = RecordParties { patient, submitter: entry.submitter, panel: panel.clone() };
        let rule = opened.as_ref().and_then(|_| read_rule(signer.address(), &parties, false));
        let deployment = consortium.deployment();
        let record = archive_id(deployment.chain_id, deployment.address, args.id);
        let log = AccessLog::new(archive);
        let reader = Reader::account(signer.address(), "hrm show");
        log_entry_read(&log, &reader, &parties, record, args.id, rule).await?;
    }

    if context.json() {
        return print_json(&json!({
            "entry": entry,
            "patient_now": patient,
            "panel": panel,
            "commitment": submission.commitment,
            "submitted_block": submission.block,
            "submission_tx": submission.tx_hash,
            "envelope_digest": submission.envelope_digest,
            "record": opened.as_ref().map(|o| &o.record),
        }));
    }
    let mut rows = key_value_table();
    rows.add_row(vec!["entry".into(), format!("{} ({})", entry.id, entry.kind.describe())]);
    rows.add_row(vec![
        "status".into(),
        format!("{} ({}/{} approvals)", entry.status, entry.approvals, entry.required_votes),
    ]);
    let patient_text = match patient == entry.patient {
        true => entry.patient.to_string(),
        false => format!("{}\nmoved by their guardians to {patient}", entry.patient),
    };
    rows.add_row(vec!["patient".into(), patient_text]);
    rows.add_row(vec!["submitted by".into(), entry.submitter.to_string()]);
    let panel_text: Vec<String> = panel.iter().map(ToString::to_string).collect();
    rows.add_row(vec!["supporting hospitals".into(), panel_text.join("\n")]);
    rows.add_row(vec!["commitment".into(), submission.commitment.to_string()]);
    rows.add_row(vec!["envelope digest".into(), submission.envelope_digest.to_string()]);
    rows.add_row(vec!["submitted in".into(), format!("block {}, tx {}", submission.block, submission.tx_hash)]);
    println!("{rows}");
    match opened {
        Some(opened) => println!("{}", serde_json::to_string_pretty(&opened.record)?),
        None => println!(
            "(sealed: only the patient, the submitter and the supporting hospitals hold and open its envelope)"
        ),
    }
    Ok(())
}
