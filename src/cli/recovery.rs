//! `hrm recovery set-guardians|guardians|key|approve|status|apply`: a patient names guardians; if
//! they lose their key, enough guardians move them to a new account; hospitals re-seal their
//! records to it.

use alloy::primitives::Address;
use clap::{Args, Subcommand};
use eyre::{Context as _, eyre};
use hrm::chain::recovery::{account_of_public_key, parse_public_key};
use hrm::records::keys::public_key_bytes;
use hrm::recovery::apply_recoveries;
use serde_json::json;

use super::context::Context;
use super::output::{key_value_table, print_json, print_tx, table};

#[derive(Debug, Subcommand)]
pub enum RecoveryCommand {
    /// Name the accounts that may move you to a new account if you lose your key, and how many
    /// of them must agree (sent from your account, --from)
    SetGuardians(SetGuardiansArgs),
    /// A patient's guardians and how many must agree
    Guardians {
        /// The patient: name, address or dev:N [default: the --from account]
        patient: Option<String>,
    },
    /// Print the --from account's public key: what a patient who lost their key gives their
    /// guardians, for a new account made with `hrm account new`
    Key,
    /// As a guardian, approve moving a patient to the account of their new public key (sent from
    /// your account, --from)
    Approve(ApproveArgs),
    /// Whether a patient was moved, and how many guardians approved a move to an account
    Status(StatusArgs),
    /// As a hospital, carry out the moves on chain now: re-seal to each new key a copy of every
    /// record of the patient's this hospital holds, and file its archived records under the new
    /// account (the follower of `hrm serve --follow` and `hrm migrate --follow` does it by itself)
    Apply,
}

#[derive(Debug, Args)]
pub struct SetGuardiansArgs {
    /// The guardians: names, addresses or dev:N (1 to 10; hospitals, relatives, anyone)
    #[arg(required = true)]
    pub guardians: Vec<String>,
    /// How many guardians must agree to move you
    #[arg(long)]
    pub threshold: u8,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The patient who lost their key: name, address or dev:N
    pub patient: String,
    /// The patient's new public key, as `hrm recovery key` printed it for them (128 hex digits)
    #[arg(long, value_name = "HEX")]
    pub new_key: String,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The patient: name, address or dev:N
    pub patient: String,
    /// A new account (or its public key) whose approvals to count
    #[arg(long, value_name = "ACCOUNT")]
    pub new_account: Option<String>,
}

pub async fn run(context: &Context, command: RecoveryCommand) -> eyre::Result<()> {
    match command {
        RecoveryCommand::SetGuardians(args) => set_guardians(context, args).await,
        RecoveryCommand::Guardians { patient } => guardians(context, patient.as_deref()).await,
        RecoveryCommand::Key => {
            let (_, signer) = context.connect_signed().await?;
            let key = alloy::hex::encode(public_key_bytes(&signer));
            if context.json() {
                return print_json(&json!({ "account": signer.address(), "public_key": key }));
            }
            println!("{key}");
            Ok(())
        }
        RecoveryCommand::Approve(args) => approve(context, args).await,
        RecoveryCommand::Status(args) => status(context, args).await,
        RecoveryCommand::Apply => apply(context).await,
    }
}

async fn set_guardians(context: &Context, args: SetGuardiansArgs) -> eyre::Result<()> {
    let guardians = args.guardians.iter().map(|g| context.address(g)).collect::<eyre::Result<Vec<Address>>>()?;
    let (consortium, signer) = context.consortium_signed().await?;
    let outcome = consortium.set_guardians(guardians.clone(), args.threshold).await?;
    let summary = format!(
        "{} of {} guardian(s) must now agree to move {} to a new account",
        args.threshold,
        guardians.len(),
        signer.address()
    );
    let extra = json!({ "patient": signer.address(), "guardians": guardians, "threshold": args.threshold });
    print_tx(context.json(), &summary, &outcome, extra)
}

async fn guardians(context: &Context, patient: Option<&str>) -> eyre::Result<()> {
    let patient = match (patient, context.global.from.as_deref()) {
        (Some(who), _) | (None, Some(who)) => context.address(who)?,
        (None, None) => return Err(eyre!("name the patient (or use --from, for your own guardians)")),
    };
    let consortium = context.consortium().await?;
    let guardians = consortium.guardians_of(patient).await?;
    if context.json() {
        return print_json(
            &json!({ "patient": patient, "guardians": guardians.guardians, "threshold": guardians.threshold }),
        );
    }
    if guardians.guardians.is_empty() {
        println!("{patient} has named no guardians: nobody can move them if they lose their key");
        return Ok(());
    }
    println!("{} of these {} must agree to move {patient}:", guardians.threshold, guardians.guardians.len());
    let mut rows = table(["guardian"]);
    for guardian in &guardians.guardians {
        rows.add_row(vec![guardian.to_string()]);
    }
    println!("{rows}");
    Ok(())
}

async fn approve(context: &Context, args: ApproveArgs) -> eyre::Result<()> {
    let patient = context.address(&args.patient)?;
    let key = parse_public_key(&args.new_key).map_err(|e| eyre!("--new-key: {e}"))?;
    let (consortium, _) = context.consortium_signed().await?;
    let outcome = consortium.approve_recovery(patient, &key).await?;
    let summary = match outcome.recovered {
        true => format!(
            "{patient} is moved to {}: their pending votes, grants, guardians and erasure requests are there now; hospitals re-seal their records to the new key",
            outcome.new_account
        ),
        false => format!(
            "{} of {} guardians approved moving {patient} to {}; the move waits for {} more",
            outcome.approvals,
            outcome.threshold,
            outcome.new_account,
            outcome.threshold.saturating_sub(outcome.approvals)
        ),
    };
    let extra = json!({
        "patient": patient,
        "new_account": outcome.new_account,
        "approvals": outcome.approvals,
        "threshold": outcome.threshold,
        "recovered": outcome.recovered,
    });
    print_tx(context.json(), &summary, &outcome.tx, extra)
}

async fn status(context: &Context, args: StatusArgs) -> eyre::Result<()> {
    let patient = context.address(&args.patient)?;
    let new_account = match &args.new_account {
        Some(text) => Some(match parse_public_key(text) {
            Ok(key) => account_of_public_key(&key),
            Err(_) => context.address(text)?,
        }),
        None => None,
    };
    let consortium = context.consortium().await?;
    let (guardians, moved_to, current) = tokio::try_join!(
        consortium.guardians_of(patient),
        consortium.recovered_to(patient),
        consortium.current_account_of(patient),
    )?;
    let approvals = match new_account {
        Some(account) => Some(consortium.recovery_approvals(patient, account).await?),
        None => None,
    };
    if context.json() {
        return print_json(&json!({
            "patient": patient,
            "moved_to": moved_to,
            "current_account": current,
            "guardians": guardians.guardians,
            "threshold": guardians.threshold,
            "new_account": new_account,
            "approvals": approvals,
        }));
    }
    let mut rows = key_value_table();
    rows.add_row(vec!["patient".to_string(), patient.to_string()]);
    let moved = match moved_to {
        Some(to) if to == current => format!("moved to {to}"),
        Some(to) => format!("moved to {to}, and since to {current}"),
        None => "not moved".to_string(),
    };
    rows.add_row(vec!["account".to_string(), moved]);
    rows.add_row(vec![
        "guardians".to_string(),
        match guardians.threshold {
            0 => "none named".to_string(),
            threshold => format!("{threshold} of {} must agree", guardians.guardians.len()),
        },
    ]);
    if let (Some(account), Some(approvals)) = (new_account, approvals) {
        rows.add_row(vec![format!("approvals for {account}"), format!("{approvals} of {}", guardians.threshold)]);
    }
    println!("{rows}");
    Ok(())
}

async fn apply(context: &Context) -> eyre::Result<()> {
    let (consortium, signer) = context.consortium_signed().await?;
    let archive = context.archive().await?;
    let key = context.identities.sealing_keys.recipient_key(&signer)?;
    let applied = apply_recoveries(&consortium, &archive, &key)
        .await
        .wrap_err_with(|| format!("carrying out patients' moves in database {}", context.database_name()))?;
    if context.json() {
        return print_json(&applied);
    }
    if applied.is_empty() {
        println!("No move waits: every patient moved on chain was carried out here already");
        return Ok(());
    }
    let mut rows = table(["patient moved", "to", "re-sealed", "re-filed", "not held here"]);
    for moved in &applied {
        rows.add_row(vec![
            moved.old_account.to_string(),
            moved.new_account.to_string(),
            moved.resealed.len().to_string(),
            moved.refiled.to_string(),
            moved.not_held.len().to_string(),
        ]);
    }
    println!("{rows}");
    Ok(())
}
