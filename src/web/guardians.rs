//! The patient's recovery page: the guardians they name and how many must agree, and, for
//! someone others named as a guardian, the approval of moving such a patient to a new account.
//! Every change is a transaction the signed-in account's wallet sends; the server never holds a
//! key. Kept off the records page, whose every load stays one read of the chain's log.

use std::sync::Arc;

use alloy::primitives::{Address, Bytes};
use alloy::sol_types::SolCall;
use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use hrm::chain::HealthRecords;
use hrm::chain::recovery::{MAX_GUARDIANS, account_of_public_key, parse_public_key};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::page;
use super::patient::wallet_transaction;
use super::{PageError, Visit, WebApp};

/// `GET /patient/recovery`: the patient's guardians, and the patients who named them one.
pub async fn overview(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Markup, PageError> {
    let patient = visit.patient()?;
    let (guardians, guarded) =
        tokio::try_join!(app.consortium.guardians_of(patient), app.consortium.guarded_by(patient))
            .map_err(PageError::failed)?;
    let mut moves = Vec::with_capacity(guarded.len());
    for (guarded_patient, _) in &guarded {
        moves.push(app.consortium.proposed_moves(*guarded_patient).await.map_err(PageError::failed)?);
    }
    let names = app.ledger().await?.hospital_names().clone();
    let listed: String = guardians.guardians.iter().map(|g| format!("{}\n", g.to_checksum(None))).collect();
    Ok(page(
        &visit,
        "Guardians and a lost key",
        html! {
            h1 { "Guardians and a lost key" }
            p.hint { "If you lose your key, the guardians you name here can move your records, your votes and your choices to a new account of yours. Choose people and hospitals you trust, and how many of them must agree: no fewer than that can move you." }
            section.card #guardians {
                h2 { "My guardians" }
                @if guardians.guardians.is_empty() {
                    p.empty { "You have named no guardians: if you lose your key, nobody can move your records to a new one." }
                } @else {
                    p { (guardians.threshold) " of these " (guardians.guardians.len()) " must agree to move you:" }
                    ul.guardian-list {
                        @for guardian in &guardians.guardians {
                            li {
                                @if let Some(name) = names.get(guardian) { (name) " (a hospital) " }
                                code { (guardian.to_checksum(None)) }
                            }
                        }
                    }
                }
                div.guardian-form {
                    label for="guardian-addresses" { "Guardians' addresses, one per line (1 to " (MAX_GUARDIANS) ")" }
                    textarea #guardian-addresses name="guardians" rows="4" { (listed) }
                    label for="guardian-threshold" { "How many must agree" }
                    input #guardian-threshold name="threshold" type="number" min="1" max=(MAX_GUARDIANS) value=(guardians.threshold.max(1));
                    button.primary.wallet-guardians type="button" { "Name these guardians" }
                }
                p.hint { "Naming a new set replaces the old one; approvals given under the old set no longer count. Your wallet sends the change." }
                p.hint.guardians-status role="status" {}
            }
            section.card #guarding {
                h2 { "Patients who chose me as a guardian" }
                @if guarded.is_empty() {
                    p.empty { "Nobody has named you as a guardian." }
                } @else {
                    p { "When one of them loses their key, they make a new account and give you its public key (" code { "hrm recovery key" } " prints it). Approve only after you have checked, in person or by phone, that it is really theirs." }
                    @for ((guarded_patient, theirs), proposed) in guarded.iter().zip(&moves) {
                        div.recovery-form data-patient=(guarded_patient.to_checksum(None)) {
                            h3 { code { (guarded_patient.to_checksum(None)) } }
                            p.hint { (theirs.threshold) " of " (theirs.guardians.len()) " guardians must agree." }
                            @for (account, approvals) in proposed {
                                p.proposed-move { "A move to " code { (account.to_checksum(None)) } " has " (approvals) " of " (theirs.threshold) " approvals." }
                            }
                            label for=(format!("new-key-{guarded_patient:#x}")) { "Their new public key (128 hexadecimal digits)" }
                            input.new-key id=(format!("new-key-{guarded_patient:#x}")) name="key" type="text" autocomplete="off" spellcheck="false";
                            button.primary.wallet-recovery type="button" { "Approve moving them" }
                            p.hint.recovery-status role="status" {}
                        }
                    }
                }
            }
            p { a href="/patient" { "Back to my records" } }
        },
    ))
}

#[derive(Deserialize)]
pub struct GuardiansQuery {
    /// Addresses separated by commas, spaces or new lines.
    #[serde(default)]
    guardians: String,
    #[serde(default)]
    threshold: String,
}

/// `GET /patient/recovery/guardians-transaction?guardians=0x…,0x…&threshold=N`: the transaction
/// the patient's wallet sends to name guardians, after a dry run that tells any refusal first.
pub async fn guardians_transaction(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<GuardiansQuery>,
) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let guardians = query
        .guardians
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|text| !text.is_empty())
        .map(|text| {
            text.parse::<Address>().map_err(|_| {
                PageError::BadRequest(format!("'{text}' is not an address (0x and 40 hexadecimal digits)"))
            })
        })
        .collect::<Result<Vec<Address>, PageError>>()?;
    let threshold: u8 = query
        .threshold
        .trim()
        .parse()
        .map_err(|_| PageError::BadRequest(format!("'{}' is not a number of guardians", query.threshold)))?;
    app.consortium
        .check_set_guardians(patient, guardians.clone(), threshold)
        .await
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let data = HealthRecords::setGuardiansCall { guardians, threshold }.abi_encode();
    Ok(Json(wallet_transaction(&app, patient, data)).into_response())
}

/// `GET /patient/recovery/guardians-state`: the patient's guardians on chain, for the page to
/// refresh itself once the change is mined.
pub async fn guardians_state(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Response, PageError> {
    let patient = visit.patient()?;
    let guardians = app.consortium.guardians_of(patient).await.map_err(PageError::failed)?;
    Ok(Json(serde_json::json!({ "guardians": guardians.guardians, "threshold": guardians.threshold })).into_response())
}

#[derive(Deserialize)]
pub struct RecoveryQuery {
    #[serde(default)]
    patient: String,
    #[serde(default)]
    key: String,
}

impl RecoveryQuery {
    fn read(&self) -> Result<(Address, [u8; 64]), PageError> {
        let patient = self
            .patient
            .parse()
            .map_err(|_| PageError::BadRequest(format!("'{}' is not a patient's address", self.patient)))?;
        let key = parse_public_key(&self.key).map_err(|e| PageError::BadRequest(format!("The new key: {e}")))?;
        Ok((patient, key))
    }
}

/// `GET /patient/recovery/approve-transaction?patient=0x…&key=…`: the transaction a guardian's
/// wallet sends to approve moving `patient` to the account of `key`, after a dry run.
pub async fn approve_transaction(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<RecoveryQuery>,
) -> Result<Response, PageError> {
    let guardian = visit.patient()?;
    let (patient, key) = query.read()?;
    app.consortium
        .check_approve_recovery(guardian, patient, &key)
        .await
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let data = HealthRecords::approveRecoveryCall { patient, newPublicKey: Bytes::copy_from_slice(&key) }.abi_encode();
    Ok(Json(wallet_transaction(&app, guardian, data)).into_response())
}

/// `GET /patient/recovery/approve-state?patient=0x…&key=…`: the approvals of that move so far, and
/// whether the patient moved, for the page to refresh itself once an approval is mined.
pub async fn approve_state(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<RecoveryQuery>,
) -> Result<Response, PageError> {
    visit.patient()?;
    let (patient, key) = query.read()?;
    let new_account = account_of_public_key(&key);
    let (approvals, moved) =
        tokio::try_join!(app.consortium.recovery_approvals(patient, new_account), app.consortium.recovered_to(patient))
            .map_err(PageError::failed)?;
    Ok(Json(serde_json::json!({ "approvals": approvals, "moved": moved == Some(new_account) })).into_response())
}
